/**
 * Invariant checker of the membership simulator (after tigerbeetle's state_checker.zig): called
 * after every single step of every node, it sees the effects the step produced and the node's
 * view, and throws (through `fail`) on the first violation.
 *
 * Safety, checked after every step:
 *   agreement          a cluster key names one (succession, generation) everywhere, for the
 *                      whole run: the registry below remembers every key ever installed
 *   install-shape      an installed succession is strictly descending and contains the node
 *   generation         a node's generation strictly grows with each install (per incarnation)
 *   new-key            an install always changes the node's cluster key
 *   self-in-cluster    a node that has installed a cluster is always in one that contains it
 *   shell-view         the core's view equals what the `install` effects told the shell
 *   message-valid      every message a node emits passes the receiver's validation and its
 *                      heartbeat describes the node's own state truthfully
 *   bounded            peers <= peersMax
 * Liveness (after faults stop) is checked by ClusterSim.awaitConverged / hold.
 */
import {
  parseClusterMessage, type MembershipEffect, type MembershipState, type NodeId,
} from "../../server/core/membership.js";

/** What the checker needs from the simulator. */
import { computePartitionMap } from "../../server/core/partition-map.js";

export interface CheckedNode {
  readonly id: NodeId;
  readonly state: MembershipState;
  readonly incarnation: number;
  /** The cluster the shell was told about by `install` effects (this incarnation). */
  readonly installed: { key: string; succession: readonly NodeId[]; generation: number } | null;
}

export interface KeyRecord {
  readonly succession: string;
  readonly generation: number;
  /** Sim tick of the first install of this key anywhere. */
  readonly firstTick: number;
  readonly firstBy: NodeId;
}

export type Fail = (invariant: string, detail: string) => never;

function strictlyDescending(ids: readonly NodeId[]): boolean {
  for (let i = 1; i < ids.length; i++) {
    const a = ids[i - 1]!, b = ids[i]!;
    if (a.length < b.length || (a.length === b.length && a <= b)) return false;
  }
  return true;
}

/** Successions whose partition map was already checked (the map is a pure function of it). */
const checkedMaps = new Map<string, string | undefined>();

/**
 * The partition map every member computes from an installed succession (RF 2): every partition
 * has a master and a replica, distinct, all members of the cluster. Returns a violation or
 * undefined. Members agree on the map because they agree on the succession (checked above) and
 * the map is a pure function of it; this checks the map itself leaves no partition unowned.
 */
function mapViolation(succession: readonly NodeId[]): string | undefined {
  const key = succession.join(" ");
  if (checkedMaps.has(key)) return checkedMaps.get(key);
  const map = computePartitionMap(succession, 2);
  const members = new Set(succession);
  let violation: string | undefined;
  for (let pid = 0; pid < 4096 && !violation; pid++) {
    const holders = map.succession(pid);
    if (holders.length !== Math.min(2, succession.length) || new Set(holders).size !== holders.length || !holders.every((h) => members.has(h))) {
      violation = `partition ${pid} of [${key}] has holders [${holders.join(" ")}]`;
    }
  }
  checkedMaps.set(key, violation);
  return violation;
}

export class InvariantChecker {
  /** Every cluster key ever installed, by anyone. */
  readonly keys = new Map<string, KeyRecord>();
  /** Steps checked, for the report. */
  checks = 0;
  private readonly lastCluster = new Map<NodeId, unknown>();

  constructor(private readonly fail: Fail) {}

  /** Call after `node` took one step that produced `effects`; `installedBefore` is the shell's view before it. */
  afterStep(now: number, node: CheckedNode, installedBefore: CheckedNode["installed"], effects: readonly MembershipEffect[]): void {
    this.checks++;
    const fail = this.fail;
    // The view's fields, read straight from the state (view() sorts; this runs after every step).
    const c = node.state.cluster;
    const v = { clusterKey: c?.key ?? null, generation: c?.generation ?? 0, succession: c?.succession ?? [], principal: node.state.principal };
    let previous = installedBefore;
    for (const effect of effects) {
      if (effect.kind === "install") {
        const tag = `${node.id} installed ${effect.clusterKey} gen ${effect.generation} [${effect.succession.join(" ")}]`;
        if (!strictlyDescending(effect.succession) || !effect.succession.includes(node.id)) fail("install-shape", tag);
        const bad = mapViolation(effect.succession);
        if (bad) fail("partition-owned", `${tag}: ${bad}`);
        if (previous !== null && effect.generation <= previous.generation) {
          fail("generation", `${tag}, after generation ${previous.generation}`);
        }
        if (previous !== null && effect.clusterKey === previous.key) fail("new-key", `${tag} twice in a row`);
        const succession = effect.succession.join(" ");
        const known = this.keys.get(effect.clusterKey);
        if (known === undefined) {
          this.keys.set(effect.clusterKey, { succession, generation: effect.generation, firstTick: now, firstBy: node.id });
        } else if (known.succession !== succession || known.generation !== effect.generation) {
          fail("agreement", `${tag}, but ${known.firstBy} installed it as gen ${known.generation} [${known.succession}] at tick ${known.firstTick}`);
        }
        previous = { key: effect.clusterKey, succession: effect.succession, generation: effect.generation };
      } else if (effect.kind === "broadcast-heartbeat" || effect.kind === "send") {
        const parsed = parseClusterMessage(effect.message);
        if (!parsed.ok) fail("message-valid", `${node.id} emitted an invalid ${effect.message.kind}: ${parsed.error}`);
        const m = effect.message;
        if (m.kind === "heartbeat" && (m.clusterKey !== v.clusterKey || m.generation !== v.generation || m.principal !== v.principal)) {
          fail("message-valid", `${node.id} heartbeat says key ${m.clusterKey} gen ${m.generation} principal ${m.principal}, view says ${v.clusterKey} ${v.generation} ${v.principal}`);
        }
      }
    }
    // Unchanged cluster object and no install: the checks below passed for it already.
    if (c === this.lastCluster.get(node.id) && previous === installedBefore) {
      if (node.state.peers.size > node.state.config.peersMax) fail("bounded", `${node.id} tracks ${node.state.peers.size} peers`);
      return;
    }
    this.lastCluster.set(node.id, c);
    const shell = node.installed;
    if ((shell?.key ?? null) !== v.clusterKey || (shell?.generation ?? 0) !== v.generation ||
        (shell?.succession ?? []).join(" ") !== v.succession.join(" ")) {
      fail("shell-view", `${node.id} view ${v.clusterKey} gen ${v.generation} [${v.succession.join(" ")}], shell was told ${shell?.key ?? null} gen ${shell?.generation ?? 0}`);
    }
    if (installedBefore !== null && v.clusterKey === null) fail("self-in-cluster", `${node.id} lost its cluster`);
    if (v.clusterKey !== null) {
      if (!v.succession.includes(node.id)) fail("self-in-cluster", `${node.id} is in ${v.clusterKey} [${v.succession.join(" ")}] without itself`);
      const known = this.keys.get(v.clusterKey);
      if (known === undefined || known.succession !== v.succession.join(" ") || known.generation !== v.generation) {
        fail("agreement", `${node.id} reports ${v.clusterKey} gen ${v.generation} [${v.succession.join(" ")}], registry has ${known ? `gen ${known.generation} [${known.succession}]` : "nothing"}`);
      }
    }
    if (node.state.peers.size > node.state.config.peersMax) fail("bounded", `${node.id} tracks ${node.state.peers.size} peers`);
  }
}
