/**
 * Invariants of the rebalance simulator (rebalance-sim.ts), after tigerbeetle's state_checker:
 * a model of what clients were told, checked against every node's disk and view after every step.
 *
 * The model. Every client write or delete creates a unique version (SimRecord.version). Per key the
 * model keeps the FRONTIER: the versions a correct read may return now, that is the latest
 * acknowledged one plus any in-doubt ones written after it (0 = "never written"). A delete's
 * version is its tombstone; a read that finds nothing is correct when the frontier holds 0 or a
 * tombstone.
 *
 *   I1 served-reads   every node that would serve a read of k (canRead: readable in its ownership,
 *                     or the shell's interim rule) returns a frontier version of k; every write is
 *                     applied on top of a frontier version (else its generation is too low and the
 *                     merge that follows drops it, or it overwrites a write it never saw)
 *   I2 available      once a cluster's members agree on ownership, every partition that some
 *                     member holds in full has an acting master that truly holds it in full
 *   I3 last-copy      no step but a crash or a removal leaves a partition that holds records with
 *                     no full copy on live or crashed nodes; and every frontier version of every
 *                     key lives on the disk of some node not removed (crashed disks come back)
 *   I4 settled        after the quiet phase: every partition complete with R full copies exactly on
 *                     its succession, nothing (full, partial, or a stray record) anywhere else, and
 *                     every copy of every key equal, record for record, to the frontier
 *
 * What the design allows (AP: availability over consistency), and the model therefore excuses:
 *   degraded(p)   a network split (both sides keep serving), or a genesis while some disk still
 *                 holds records of p and no member holds p in full (every full copy was down at
 *                 once: the map master starts an empty line, the data comes back by merge; an
 *                 operator's removal counts as a crash). While p is degraded, reads may be
 *                 stale; a write applied on a stale version FORKS its key. degraded(p) ends once
 *                 the cluster is one group, no down node holds records of p, and p is complete,
 *                 not merging and not moving: from then on the full checks apply again.
 *   forked(k)     the key has diverging histories; the final check only asks its copies to agree.
 *                 Also set when an in-doubt version could supersede a later acknowledged one.
 * Everything else is a violation, reported with the seed and step (SimFailure).
 */
import { PARTITION_COUNT } from "../../client/protocol/constants.js";
import { hasPartition, type Holdings, type HoldingsEvent, type Ownership } from "../../server/core/partition-ownership.js";
import { supersedes } from "../../server/core/record-rules.js";
import type { NodeId, SimRecord } from "./rebalance-disk.js";
import type { SimNode } from "./rebalance-node.js";

/** What the checker sees of the simulator. */
export interface World {
  readonly nodes: ReadonlyMap<NodeId, SimNode>;
  /** Groups of live nodes that can reach each other (one unless the network is split). */
  readonly groups: readonly (readonly NodeId[])[];
  /** Partitions that keys map to; every other partition stays empty. */
  readonly hot: readonly number[];
  keysOf(pid: number): readonly string[];
  pidOf(key: string): number;
  /**
   * The ownership every member of `group` holds, when all run the group's cluster and computed it
   * from every member's current holdings; else null (a view is still catching up).
   */
  truth(group: readonly NodeId[]): Ownership | null;
  /** Some move of `pid` is running, or one of its chunks is on the wire. */
  moving(pid: number): boolean;
}

export type Fail = (invariant: string, detail: string) => never;

/** The frontier's "never written / not found" entry. */
const ABSENT = 0;

interface KeyModel {
  frontier: Set<number>;
  forked: boolean;
}

export interface CheckerStats {
  steps: number;
  reads: number;
  acked: number;
  inDoubt: number;
  notFound: number;
  unavailable: number;
  /** Keys forked (write on a stale version while degraded). */
  forks: number;
  /** Partitions marked degraded (split, or genesis with data on some disk). */
  degradations: number;
  /** Stale reads seen while degraded. */
  staleExcused: number;
}

export class RebalanceChecker {
  readonly versions = new Map<number, SimRecord>();
  readonly degraded = new Map<number, string>();
  readonly stats: CheckerStats = { steps: 0, reads: 0, acked: 0, inDoubt: 0, notFound: 0, unavailable: 0, forks: 0, degradations: 0, staleExcused: 0 };
  private readonly model = new Map<string, KeyModel>();
  private readonly touched = new Set<string>();

  constructor(private readonly world: World, private readonly fail: Fail) {}

  private km(key: string): KeyModel {
    let m = this.model.get(key);
    if (m === undefined) { m = { frontier: new Set([ABSENT]), forked: false }; this.model.set(key, m); }
    return m;
  }

  describeKey(key: string): string {
    const m = this.km(key);
    const f = [...m.frontier].map((v) => (v === ABSENT ? "absent" : describeRecord(this.versions.get(v)))).join(" | ");
    return `frontier {${f}}${m.forked ? " (forked)" : ""}`;
  }

  /** A disk changed `key`. */
  touch(key: string): void {
    this.touched.add(key);
  }

  /** What a client reading this stored record sees is allowed. */
  private visibleOk(m: KeyModel, rec: SimRecord | undefined): boolean {
    if (rec === undefined || rec.tombstone) {
      if (m.frontier.has(ABSENT)) return true;
      for (const v of m.frontier) if (this.versions.get(v)?.tombstone) return true;
      return false;
    }
    return m.frontier.has(rec.version);
  }

  /** The stored record is exactly a frontier version (nothing stored: "never written"). */
  private physicalOk(m: KeyModel, rec: SimRecord | undefined): boolean {
    return m.frontier.has(rec?.version ?? ABSENT);
  }

  // ── client operations ──────────────────────────────────────────────────────────────────────

  /** A client read (or a delete answered NOT_FOUND) served by `node` from `rec`. */
  onRead(key: string, node: NodeId, rec: SimRecord | undefined, what = "read"): void {
    this.stats.reads++;
    if (rec === undefined || rec.tombstone) this.stats.notFound++;
    const m = this.km(key);
    if (this.visibleOk(m, rec)) return;
    const pid = this.world.pidOf(key);
    if (m.forked || this.degraded.has(pid)) { this.stats.staleExcused++; return; }
    this.fail("I1 served-reads", `${what} of ${key} (p${pid}) at ${node} returned ${describeRecord(rec)}; ${this.describeKey(key)}`);
  }

  /** `node` stored `rec` as master over `base`; the client was told `outcome`. */
  onWrite(key: string, node: NodeId, base: SimRecord | undefined, rec: SimRecord, outcome: "ack" | "in-doubt"): void {
    const m = this.km(key);
    const pid = this.world.pidOf(key);
    this.versions.set(rec.version, rec);
    if (!this.physicalOk(m, base)) {
      if (!m.forked && !this.degraded.has(pid)) {
        this.fail("I1 served-reads", `${node} wrote ${key} (p${pid}) as ${describeRecord(rec)} on top of ${describeRecord(base)}, not a version clients were last told about; ${this.describeKey(key)}`);
      }
      if (!m.forked) this.stats.forks++;
      m.forked = true;
    }
    if (outcome === "ack") {
      this.stats.acked++;
      for (const v of m.frontier) {
        const other = this.versions.get(v);
        // An in-doubt version that would win a merge over this acknowledged one: AP, not a bug.
        if (other !== undefined && v !== base?.version && supersedes(other, rec)) {
          if (!m.forked) this.stats.forks++;
          m.forked = true;
        }
      }
      m.frontier = new Set([rec.version]);
    } else {
      this.stats.inDoubt++;
      m.frontier.add(rec.version);
    }
    this.touched.add(key);
  }

  // ── events ─────────────────────────────────────────────────────────────────────────────────

  degrade(pids: Iterable<number>, reason: string): void {
    for (const pid of pids) {
      if (this.degraded.has(pid)) continue;
      this.degraded.set(pid, reason);
      this.stats.degradations++;
    }
  }

  /**
   * Any node computed `own`: a genesis while some disk holds records of p degrades p, unless a
   * member truly holds p in full (then the genesis came from a stale view: not excused).
   */
  onOwnership(own: Ownership): void {
    for (const pid of this.world.hot) {
      if (!own.genesis(pid) || this.degraded.has(pid)) continue;
      if (own.map.nodes.some((id) => hasPartition(this.world.nodes.get(id)?.proc?.self.full, pid))) continue;
      for (const n of this.world.nodes.values()) {
        if (n.state !== "removed" && n.disk.hasData(pid)) {
          this.degrade([pid], `genesis at ${own.actingMaster(pid)} while ${n.id} holds records`);
          break;
        }
      }
    }
  }

  /**
   * I3, holdings: a node gave up a full copy; some live or crashed node must still have one. A
   * crashed (or removed) node counts with the full copies it had; once restarted, with the copies
   * its disk brought back (unmerged): a crash or a removal is the one way to lose the last one.
   */
  onHoldingsChanged(node: NodeId, event: HoldingsEvent, before: Holdings, after: Holdings): void {
    if (event.kind !== "dropped" && event.kind !== "merge-completed") return;
    for (const pid of event.pids) {
      if (!hasPartition(before.full, pid) || hasPartition(after.full, pid)) continue;
      // A copy of a partition without a record anywhere is a bit, not data: a restart forgets it.
      if (![...this.world.nodes.values()].some((n) => n.disk.hasData(pid))) continue;
      let copies = 0;
      for (const n of this.world.nodes.values()) {
        if (n.id === node) continue;
        const h = n.proc?.self;
        // `unmerged` on a current copy is only a mark (a copy handed over): it is not a copy of its own.
        const unmerged = h !== undefined && hasPartition(h.unmerged, pid) && !hasPartition(h.current, pid);
        if (h !== undefined ? hasPartition(h.full, pid) || unmerged : hasPartition(n.lastFull ?? undefined, pid)) copies++;
      }
      if (copies === 0) this.fail("I3 last-copy", `${node} ${event.kind} p${pid}, its last full copy on any live or crashed node`);
    }
  }

  /** Every frontier version of `key` survives on some disk (crashed ones count, `without` does not). */
  durable(key: string, without?: NodeId): boolean {
    const m = this.km(key);
    if (m.forked || m.frontier.has(ABSENT)) return true;
    const pid = this.world.pidOf(key);
    let tombstonesOnly = true;
    for (const v of m.frontier) if (!this.versions.get(v)?.tombstone) tombstonesOnly = false;
    let live = false;
    for (const n of this.world.nodes.values()) {
      if (n.state === "removed" || n.id === without) continue;
      const rec = n.disk.get(pid, key);
      if (rec !== undefined && m.frontier.has(rec.version)) return true;
      if (rec !== undefined && !rec.tombstone) live = true;
    }
    // A lost tombstone is harmless while no disk holds a live version it would have overruled.
    return tombstonesOnly && !live;
  }

  /** Removing `id` (and its disk) for good loses no frontier version. */
  canRemove(id: NodeId): boolean {
    for (const pid of this.world.hot) for (const key of this.world.keysOf(pid)) if (!this.durable(key, id)) return false;
    return true;
  }

  // ── after every step ───────────────────────────────────────────────────────────────────────

  afterStep(): void {
    this.stats.steps++;
    for (const key of this.touched) {
      if (!this.durable(key)) this.fail("I3 last-copy", `no disk holds ${key} (p${this.world.pidOf(key)}) any more; ${this.describeKey(key)}`);
    }
    this.touched.clear();
    this.clearDegraded();
    this.checkServedReads();
    this.checkAvailable();
  }

  /** I1 for every key of every partition each node would serve now. */
  private checkServedReads(): void {
    for (const n of this.world.nodes.values()) {
      if (n.proc === null) continue;
      for (const pid of this.world.hot) {
        if (!n.canRead(pid)) continue;
        const excused = this.degraded.has(pid);
        for (const key of this.world.keysOf(pid)) {
          const m = this.km(key);
          const rec = n.disk.get(pid, key);
          if (m.forked || excused || this.visibleOk(m, rec)) continue;
          this.fail("I1 served-reads", `${n.id} serves p${pid} but holds ${key} as ${describeRecord(rec)}; ${this.describeKey(key)}; ${describeServing(n, pid)}`);
        }
      }
    }
  }

  /** Members of `group` all run the group's cluster and agree on `truth`. */
  private agreed(group: readonly NodeId[]): Ownership | null {
    const truth = this.world.truth(group);
    if (truth === null) return null;
    for (const id of group) if (this.world.nodes.get(id)!.proc!.own !== truth) return null;
    return truth;
  }

  /** I2: a partition held in full by a member has an acting master that truly holds it in full. */
  private checkAvailable(): void {
    for (const group of this.world.groups) {
      const truth = this.agreed(group);
      if (truth === null) continue;
      for (const pid of this.world.hot) {
        const holder = group.find((id) => hasPartition(this.world.nodes.get(id)!.proc!.self.full, pid));
        if (holder === undefined) continue;
        const am = truth.actingMaster(pid);
        if (truth.genesis(pid) || !hasPartition(this.world.nodes.get(am)!.proc!.self.full, pid)) {
          this.fail("I2 available", `p${pid}: ${holder} holds it in full but the acting master ${am} does not (genesis ${truth.genesis(pid)})`);
        }
      }
    }
  }

  private clearDegraded(): void {
    if (this.degraded.size === 0 || this.world.groups.length !== 1) return;
    const truth = this.agreed(this.world.groups[0]!);
    if (truth === null) return;
    for (const pid of [...this.degraded.keys()]) {
      if (!truth.complete(pid) || truth.merging(pid) || this.world.moving(pid)) continue;
      let stranded = false;
      for (const n of this.world.nodes.values()) if (n.state === "down" && n.disk.hasData(pid)) stranded = true;
      if (!stranded) this.degraded.delete(pid);
    }
  }

  // ── the end ────────────────────────────────────────────────────────────────────────────────

  /** I4, once the quiet phase has run every move to completion. */
  finalCheck(): void {
    const w = this.world;
    if (w.groups.length !== 1) this.fail("I4 settled", `${w.groups.length} groups after healing`);
    const group = w.groups[0]!;
    const truth = this.agreed(group);
    if (truth === null) this.fail("I4 settled", `members do not agree on ownership after the quiet phase`);
    const s = truth.summary;
    if (s.complete !== PARTITION_COUNT || s.merging !== 0 || s.genesis !== 0) {
      let pid = 0;
      while (pid < PARTITION_COUNT - 1 && truth.complete(pid) && !truth.merging(pid) && !truth.genesis(pid)) pid++;
      const holdingsOf = (id: NodeId) => w.nodes.get(id)?.proc?.self;
      this.fail("I4 settled", `ownership not settled, ${JSON.stringify(s)}, and no move is left to make: ${describeOwnership(truth, pid, holdingsOf)}`);
    }
    for (const n of w.nodes.values()) if (n.state === "down") this.fail("I4 settled", `${n.id} still down`);
    const map = truth.map;
    for (let pid = 0; pid < PARTITION_COUNT; pid++) {
      const succession = map.succession(pid);
      for (const id of group) {
        const h = w.nodes.get(id)!.proc!.self;
        const owner = succession.includes(id);
        if (hasPartition(h.full, pid) !== owner || hasPartition(h.partial, pid)) {
          this.fail("I4 settled", `${id} p${pid}: full=${hasPartition(h.full, pid)} partial=${hasPartition(h.partial, pid)}, succession [${succession.join(" ")}]`);
        }
      }
    }
    for (const pid of w.hot) {
      const succession = map.succession(pid);
      for (const id of group) {
        if (!succession.includes(id) && w.nodes.get(id)!.disk.hasData(pid)) {
          this.fail("I4 settled", `${id} keeps records of p${pid} (${w.nodes.get(id)!.disk.entries(pid).map(([k]) => k).join(" ")}) outside its succession [${succession.join(" ")}]`);
        }
      }
      for (const key of w.keysOf(pid)) {
        const m = this.km(key);
        const recs = succession.map((id) => w.nodes.get(id)!.disk.get(pid, key));
        const first = recs[0];
        if (recs.some((r) => r?.version !== first?.version)) {
          this.fail("I4 settled", `copies of ${key} (p${pid}) differ: ${succession.map((id, i) => `${id}=${describeRecord(recs[i])}`).join(", ")}`);
        }
        if (!m.forked && !this.physicalOk(m, first)) {
          this.fail("I4 settled", `${key} (p${pid}) settled as ${describeRecord(first)}; ${this.describeKey(key)}`);
        }
      }
    }
  }

  forkedKeys(): number {
    let n = 0;
    for (const m of this.model.values()) if (m.forked) n++;
    return n;
  }
}

export function describeRecord(rec: SimRecord | undefined): string {
  if (rec === undefined) return "nothing";
  return `${rec.tombstone ? "tombstone" : `value ${rec.value}`} (v${rec.version} gen ${rec.generation} lut ${rec.lastUpdateMs})`;
}

function describeServing(n: SimNode, pid: number): string {
  const p = n.proc!;
  const why = p.own ? `readable in its ownership (acting master ${p.own.actingMaster(pid)})`
    : p.map ? `interim route (no ownership yet in ${p.clusterKey})` : "no cluster installed yet";
  return `${n.id} holds ${describeHoldings(p.self, pid)}, ${why}`;
}

/** One line per ownership: the acting master of `pid`, and each member's flags and true holdings. */
export function describeOwnership(own: Ownership, pid: number, holdingsOf: (id: NodeId) => Holdings | undefined): string {
  const members = own.map.nodes.map((id) => {
    const flags = [own.isFull(pid, id) && "full", own.needsMerge(pid, id) && "needs-merge", own.inLine(pid, id) && "in-line",
      own.readable(pid, id) && "readable"].filter(Boolean).join(",");
    return `${id}{${flags}; holds ${describeHoldings(holdingsOf(id), pid)}}`;
  });
  return `ownership p${pid} [${own.map.succession(pid).join(" ")}] acting ${own.actingMaster(pid)}` +
    `${own.genesis(pid) ? " (genesis)" : ""}${own.merging(pid) ? " merging" : ""}${own.complete(pid) ? " complete" : ""}: ${members.join(" ")}`;
}

function describeHoldings(h: Holdings | undefined, pid: number): string {
  if (h === undefined) return "?";
  const bits = ["full", "partial", "current", "unmerged"].filter((k) => hasPartition((h as unknown as Record<string, Uint8Array>)[k], pid));
  return `[${bits.join("+")}] line ${h.lastClusterKey}`;
}
