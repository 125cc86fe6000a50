/**
 * Memoised answers of the pure rebalancing core for the rebalance simulator.
 *
 * computeOwnership covers all 4096 partitions (a few ms), planMigrations and partitionsToDrop too,
 * and every member of a cluster computes the same ones from the same holdings. All are pure
 * functions of immutable values, so the simulator computes each once:
 *
 *   ownership   keyed by (map, the identity of each member's Holdings object): members whose
 *               views hold the same announcements share one Ownership
 *   per node    plan, genesis claims, drops: keyed by (Ownership, node)
 *   maps        computePartitionMap (~20 ms) by (rf, member ids), shared by every seed
 */
import { PARTITION_COUNT } from "../../client/protocol/constants.js";
import { sortNodeIdsDesc } from "../../server/core/membership.js";
import { planMigrations, type Move } from "../../server/core/migration-plan.js";
import { computePartitionMap, type PartitionMap } from "../../server/core/partition-map.js";
import { computeOwnership, type Holdings, type Ownership } from "../../server/core/partition-ownership.js";
import type { NodeId } from "./rebalance-disk.js";

/** The partition map is a pure function of (ids, rf): shared by every seed (like invariants.ts). */
const mapCache = new Map<string, PartitionMap>();

export function mapOf(members: readonly NodeId[], rf: number): PartitionMap {
  const key = `${rf}:${sortNodeIdsDesc(members).join(",")}`;
  let map = mapCache.get(key);
  if (map === undefined) {
    map = computePartitionMap(members, rf);
    mapCache.set(key, map);
  }
  return map;
}

/** Ownerships kept at most; older views are rarely asked for again. */
const OWNERSHIPS_KEPT_MAX = 256;

export class CoreCache {
  /** computeOwnership calls (cache misses), for the report. */
  computed = 0;
  private readonly ownerships = new Map<string, Ownership>();
  private readonly plans = new WeakMap<Ownership, Map<NodeId, readonly Move[]>>();
  private readonly perNodeLists = new WeakMap<Ownership, Map<string, readonly number[]>>();
  private readonly objectIds = new WeakMap<object, number>();
  private objectSeq = 0;

  /** `onComputed` sees every newly computed ownership (the checker looks for genesis). */
  constructor(private readonly onComputed: (own: Ownership) => void) {}

  private idOf(o: object): number {
    let id = this.objectIds.get(o);
    if (id === undefined) { id = ++this.objectSeq; this.objectIds.set(o, id); }
    return id;
  }

  ownership(map: PartitionMap, holdings: ReadonlyMap<NodeId, Holdings>): Ownership {
    let key = String(this.idOf(map));
    for (const id of map.nodes) key += `:${this.idOf(holdings.get(id)!)}`;
    let own = this.ownerships.get(key);
    if (own === undefined) {
      own = computeOwnership(map, holdings);
      this.computed++;
      if (this.ownerships.size >= OWNERSHIPS_KEPT_MAX) this.ownerships.clear();
      this.ownerships.set(key, own);
      this.onComputed(own);
    }
    return own;
  }

  /** planMigrations; `holdings` must be those `own` was computed from. */
  plan(own: Ownership, holdings: ReadonlyMap<NodeId, Holdings>, self: NodeId): readonly Move[] {
    let byNode = this.plans.get(own);
    if (byNode === undefined) { byNode = new Map(); this.plans.set(own, byNode); }
    let plan = byNode.get(self);
    if (plan === undefined) {
      plan = planMigrations(own, own.map, holdings, self);
      byNode.set(self, plan);
    }
    return plan;
  }

  private perNode(own: Ownership, key: string, compute: () => number[]): readonly number[] {
    let byKey = this.perNodeLists.get(own);
    if (byKey === undefined) { byKey = new Map(); this.perNodeLists.set(own, byKey); }
    let out = byKey.get(key);
    if (out === undefined) { out = compute(); byKey.set(key, out); }
    return out;
  }

  /** Partitions of genesis that `self` claims (rebalancer.ts recomputeNow). */
  genesisOf(own: Ownership, self: NodeId): readonly number[] {
    if (own.summary.genesis === 0) return [];
    return this.perNode(own, `g:${self}`, () => {
      const out: number[] = [];
      for (let pid = 0; pid < PARTITION_COUNT; pid++) if (own.genesis(pid) && own.actingMaster(pid) === self) out.push(pid);
      return out;
    });
  }

  dropsOf(own: Ownership, self: NodeId): readonly number[] {
    return this.perNode(own, `d:${self}`, () => own.partitionsToDrop(self));
  }
}
