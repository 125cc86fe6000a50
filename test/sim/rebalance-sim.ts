/**
 * The rebalance simulator (issue 4): N shoal nodes in one process, driving the pure rebalancing
 * core (partition-map, partition-ownership, migration-plan, record-rules) the way the shell does
 * (rebalance-node.ts), with client traffic, migrations chunk by chunk and faults interleaved in
 * an order drawn from one seed. A failing seed replays exactly.
 *
 *   step     one of: a client put / delete / read of a random key (routed, proxied, replicated
 *            like transaction.ts; atomic), the delivery of the next message on one link (holdings,
 *            a migration chunk, its reply; per-link FIFO like TCP), one pending task of one node
 *            (an install, a recompute, the next chunk of a stream, one record of a drop, ...), or
 *            a fault: crash (kill -9: the disk stays), restart (same id, same disk), a new node,
 *            a graceful removal (for good), a network split, a heal, a migration chunk that times
 *            out (the move restarts); optionally (`replicaLoss`) replica writes lost on the wire.
 *            After every step: RebalanceChecker.afterStep (rebalance-invariants.ts).
 *   phases   faults: `faultSteps` steps of all of the above
 *            quiet:  crashed nodes restart, the network heals, client traffic for a while, then
 *                    only deliveries and tasks until nothing is left (liveness: a bounded number
 *                    of steps, and no node left with planned but unstarted moves); then I4 and a
 *                    client read of every key
 *
 * Membership is not simulated (test/sim/vopr.ts does that): a change of the live, connected set
 * is one event that gives the group a fresh cluster key and queues an install on each member,
 * which each runs at its own time. Every node keeps its own view (the holdings it has heard of),
 * as the shell does; ownerships are memoised (rebalance-core-cache.ts) so that members with the
 * same view share one computation. Keys stand for digests and hash (FNV-1a) into a few `hot`
 * partitions, so that migrations carry several records and chunks; the other partitions stay
 * empty and move by the shell's bulk FILL_EMPTY path. The seed's choices: rebalance-vopr.ts.
 */
import { PARTITION_COUNT } from "../../client/protocol/constants.js";
import { sortNodeIdsDesc } from "../../server/core/membership.js";
import type { MigrationLimits, Move } from "../../server/core/migration-plan.js";
import type { PartitionMap } from "../../server/core/partition-map.js";
import type { Holdings, HoldingsEvent, Ownership } from "../../server/core/partition-ownership.js";
import { pick, shuffle, type Rng } from "../../server/core/rng.js";
import { PROXY_HOPS_MAX } from "../../server/service/transaction.js";
import { SimFailure } from "./cluster-sim.js";
import { CoreCache, mapOf } from "./rebalance-core-cache.js";
import { Disk, type NodeId, type SimRecord } from "./rebalance-disk.js";
import { describeOwnership, describeRecord, RebalanceChecker, type World } from "./rebalance-invariants.js";
import { SimNode, type Host, type Msg } from "./rebalance-node.js";
import { SHELL_AS_DESIGNED, SHELL_AS_IS, type Mutation, type ShellModel } from "./rebalance-shell.js";

/**
 * Node ids the simulator draws from: varied lengths, so that id order is not string order. Few,
 * so that the partition maps (~20 ms each to compute) repeat across seeds and come from the cache.
 */
export const NODE_ID_POOL = ["7", "A3", "B1C", "9C4A1", "DEADBEEF", "1234ABCD5678"];
/** Live nodes at most (the pool bounds added ones too). */
export const LIVE_NODES_MAX = 6;
/** Quiet-phase steps after which the cluster must have settled. */
export const QUIET_STEPS_MAX = 40_000;
/** Quiet-phase steps that still carry client traffic. */
const QUIET_CLIENT_STEPS = 150;

/** Chance per fault step of each fault (weights, normalised over the applicable ones). */
export interface FaultWeights {
  readonly crash: number;
  readonly restart: number;
  readonly add: number;
  readonly remove: number;
  readonly split: number;
  readonly heal: number;
  readonly moveFailure: number;
}

export interface RebalanceSimOptions {
  readonly seed: number;
  readonly rf: number;
  /** Nodes at the start. */
  readonly nodes: number;
  readonly keys: number;
  readonly hotPartitions: number;
  readonly chunkRecords: number;
  readonly limits: MigrationLimits;
  readonly snapshotStreams: boolean;
  readonly shell: ShellModel;
  readonly mutation: Mutation;
  readonly faults: FaultWeights;
  /** Chance that a step is a fault (fault phase only). */
  readonly faultRate: number;
  /** Chance that a step is a client operation. */
  readonly clientRate: number;
  /** Chance that a replica write is lost on the wire (a fabric timeout with both ends up). */
  readonly replicaLoss: number;
  readonly faultSteps: number;
  readonly verbose: boolean;
  /** Trace, for this partition, every ownership computed and every member's flags in it (-1: none). */
  readonly tracePid: number;
}

function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

interface Link {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly queue: Msg[];
}

export class RebalanceSim implements World, Host {
  readonly nodes = new Map<NodeId, SimNode>();
  groups: NodeId[][] = [];
  readonly hot: number[];
  readonly keys: string[];
  readonly checker: RebalanceChecker;
  readonly rf: number;
  readonly limits: MigrationLimits;
  readonly chunkRecords: number;
  readonly snapshotStreams: boolean;
  readonly shell: ShellModel;
  readonly mutation: Mutation;
  step = 0;
  faults = 0;
  private clock = 1_000_000;
  private rid = 0;
  private versionSeq = 0;
  private clusterSeq = 0;
  private readonly links = new Map<string, Link>();
  private readonly pidOfKey = new Map<string, number>();
  private readonly keysByPid = new Map<number, string[]>();
  readonly core: CoreCache;
  private readonly trace: string[] = [];
  private phase: "faults" | "quiet" = "faults";

  constructor(readonly options: RebalanceSimOptions, private readonly rng: Rng) {
    this.rf = options.rf;
    this.limits = options.limits;
    this.chunkRecords = options.chunkRecords;
    this.snapshotStreams = options.snapshotStreams;
    this.shell = options.shell;
    this.mutation = options.mutation;
    const hot = new Set<number>();
    while (hot.size < options.hotPartitions) hot.add(rng.int(PARTITION_COUNT));
    this.hot = [...hot].sort((a, b) => a - b);
    this.keys = Array.from({ length: options.keys }, (_, i) => `k${String(i).padStart(4, "0")}`);
    for (const key of this.keys) {
      const pid = this.hot[hashKey(key) % this.hot.length]!;
      this.pidOfKey.set(key, pid);
      this.keysByPid.set(pid, [...(this.keysByPid.get(pid) ?? []), key]);
    }
    this.checker = new RebalanceChecker(this, (invariant, detail) => this.fail(invariant, detail));
    this.core = new CoreCache((own) => {
      if (options.tracePid >= 0) this.note(describeOwnership(own, options.tracePid, (id) => this.nodes.get(id)?.proc?.self));
      this.checker.onOwnership(own);
    });
  }

  // ── World ──────────────────────────────────────────────────────────────────────────────────

  keysOf(pid: number): readonly string[] {
    return this.keysByPid.get(pid) ?? [];
  }

  pidOf(key: string): number {
    return this.pidOfKey.get(key)!;
  }

  /** The ownership every member of `group` holds, if it is of every member's current holdings. */
  truth(group: readonly NodeId[]): Ownership | null {
    let own: Ownership | null = null;
    const members = sortNodeIdsDesc(group).join(" ");
    for (const id of group) {
      const p = this.nodes.get(id)?.proc;
      if (!p || !p.own || p.cluster === null || p.cluster.members.join(" ") !== members) return null;
      if (p.tasks.some((t) => t.kind === "install")) return null;
      if (own === null) own = p.own;
      else if (p.own !== own) return null;
    }
    if (own === null) return null;
    // The shared view must be of every member's current holdings, not of an older announcement.
    for (const id of group) {
      const inputs = this.nodes.get(id)!.proc!.ownInputs;
      for (const m of group) if (inputs?.get(m) !== this.nodes.get(m)!.proc!.self) return null;
    }
    return own;
  }

  moving(pid: number): boolean {
    for (const n of this.nodes.values()) {
      for (const f of n.proc?.inFlight.values() ?? []) if (f.move.pid === pid) return true;
      for (const f of n.proc?.syncs.values() ?? []) if (f.move.pid === pid) return true;
    }
    for (const link of this.links.values()) for (const m of link.queue) if (m.kind === "chunk" && m.pid === pid) return true;
    return false;
  }

  // ── Host ───────────────────────────────────────────────────────────────────────────────────

  now(): number {
    return this.clock;
  }

  nextRid(): number {
    return ++this.rid;
  }

  reachable(from: NodeId, to: NodeId): boolean {
    const a = this.nodes.get(from);
    const b = this.nodes.get(to);
    if (!a?.up || !b?.up) return false;
    return this.groupOf(from) === this.groupOf(to);
  }

  send(from: NodeId, to: NodeId, msg: Msg): void {
    if (!this.reachable(from, to)) {
      if (msg.kind === "chunk" || msg.kind === "fill-empty") this.nodes.get(from)?.failRequest(msg.rid);
      return;
    }
    const key = `${from}>${to}`;
    let link = this.links.get(key);
    if (link === undefined) { link = { from, to, queue: [] }; this.links.set(key, link); }
    link.queue.push(msg);
  }

  mapFor(members: readonly NodeId[]): PartitionMap {
    return mapOf(members, this.rf);
  }


  ownership(map: PartitionMap, holdings: ReadonlyMap<NodeId, Holdings>): Ownership {
    return this.core.ownership(map, holdings);
  }

  plan(own: Ownership, holdings: ReadonlyMap<NodeId, Holdings>, self: NodeId): readonly Move[] {
    return this.core.plan(own, holdings, self);
  }

  genesisOf(own: Ownership, self: NodeId): readonly number[] {
    return this.core.genesisOf(own, self);
  }

  dropsOf(own: Ownership, self: NodeId): readonly number[] {
    return this.core.dropsOf(own, self);
  }

  replicaWrite(from: NodeId, to: NodeId, pid: number, key: string, record: SimRecord): boolean {
    if (!this.reachable(from, to)) return false;
    if (this.options.replicaLoss > 0 && this.rng.bool(this.options.replicaLoss)) {
      // A fabric timeout: the replica may or may not have applied it.
      const applied = this.rng.bool();
      if (applied) this.nodes.get(to)!.applyReplicaWrite(pid, key, record);
      this.note(`replica write ${key} ${from}→${to} lost (${applied ? "applied" : "not applied"})`);
      return false;
    }
    this.nodes.get(to)!.applyReplicaWrite(pid, key, record);
    return true;
  }

  holdingsChanged(node: NodeId, event: HoldingsEvent, before: Holdings, after: Holdings): void {
    if (event.kind !== "cluster-entered") {
      const hot = event.pids.filter((pid) => this.hot.includes(pid));
      const pids = event.pids.length <= 8 ? event.pids.join(",") : `${event.pids.length} pids (hot: ${hot.join(",")})`;
      this.note(`${node} ${event.kind} ${pids}`);
    }
    this.checker.onHoldingsChanged(node, event, before, after);
  }

  // ── membership events ──────────────────────────────────────────────────────────────────────

  private groupOf(id: NodeId): NodeId[] | undefined {
    return this.groups.find((g) => g.includes(id));
  }

  upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  private reform(group: NodeId[]): void {
    if (group.length === 0) return;
    const key = `K${++this.clusterSeq}`;
    const members = sortNodeIdsDesc(group);
    this.note(`cluster ${key} [${members.join(" ")}] forms`);
    for (const id of members) this.nodes.get(id)!.queueInstall({ key, members });
  }

  /** Drops every message on links that `cut` says are broken; their requests fail. */
  private breakLinks(cut: (from: NodeId, to: NodeId) => boolean): void {
    for (const link of this.links.values()) {
      if (link.queue.length === 0 || !cut(link.from, link.to)) continue;
      for (const msg of link.queue.splice(0)) {
        if (msg.kind === "chunk" || msg.kind === "fill-empty") this.nodes.get(link.from)?.failRequest(msg.rid);
        else if (msg.kind === "reply") this.nodes.get(link.to)?.failRequest(msg.rid);
      }
    }
  }

  private leave(id: NodeId): void {
    const group = this.groupOf(id)!;
    group.splice(group.indexOf(id), 1);
    this.breakLinks((a, b) => a === id || b === id);
    if (group.length === 0) this.groups = this.groups.filter((g) => g !== group);
    else this.reform(group);
  }

  private join(id: NodeId): void {
    const group = this.groups.length === 0 ? undefined : pick(this.rng, this.groups);
    if (group === undefined) this.groups.push([id]);
    else group.push(id);
    this.reform(this.groupOf(id)!);
  }

  addNode(id: NodeId): void {
    const node = new SimNode(id, new Disk((key) => this.checker.touch(key)), this);
    this.nodes.set(id, node);
    node.boot();
    this.note(`${id} ADD`);
    this.join(id);
  }

  crash(id: NodeId): void {
    this.note(`${id} CRASH`);
    this.leave(id);
    this.nodes.get(id)!.crash();
  }

  restart(id: NodeId): void {
    this.nodes.get(id)!.boot();
    this.note(`${id} RESTART`);
    this.join(id);
  }

  remove(id: NodeId): void {
    this.note(`${id} REMOVE (graceful, for good)`);
    this.leave(id);
    this.nodes.get(id)!.remove();
  }

  split(): void {
    const group = pick(this.rng, this.groups.filter((g) => g.length >= 2));
    const shuffled = shuffle(this.rng, [...group]);
    const cut = 1 + this.rng.int(shuffled.length - 1);
    const a = shuffled.slice(0, cut);
    const b = shuffled.slice(cut);
    this.groups = [...this.groups.filter((g) => g !== group), a, b];
    this.note(`SPLIT {${a.join(" ")}} {${b.join(" ")}}`);
    this.breakLinks((x, y) => (a.includes(x) && b.includes(y)) || (b.includes(x) && a.includes(y)));
    this.checker.degrade(this.hot, "network split");
    this.reform(a);
    this.reform(b);
  }

  heal(): void {
    const all = this.groups.flat();
    this.groups = [all];
    this.note(`HEAL {${all.join(" ")}}`);
    this.reform(all);
  }

  private fault(): void {
    const f = this.options.faults;
    const up = this.upNodes();
    const down = [...this.nodes.values()].filter((n) => n.state === "down");
    const unused = NODE_ID_POOL.filter((id) => !this.nodes.has(id));
    const chunks = up.flatMap((n) => n.chunkRequests().map((rid) => [n, rid] as const));
    const choices: [number, () => void][] = [];
    if (up.length > 1) choices.push([f.crash, () => this.crash(pick(this.rng, up).id)]);
    if (down.length > 0) choices.push([f.restart, () => this.restart(pick(this.rng, down).id)]);
    if (up.length < LIVE_NODES_MAX && unused.length > 0) choices.push([f.add, () => this.addNode(pick(this.rng, unused))]);
    if (up.length > 2) {
      choices.push([f.remove, () => {
        const id = pick(this.rng, up).id;
        // An operator removes a node for good only when that loses no data (not: only when settled).
        if (this.checker.canRemove(id)) this.remove(id);
      }]);
    }
    if (this.groups.some((g) => g.length >= 2)) choices.push([f.split, () => this.split()]);
    if (this.groups.length > 1) choices.push([f.heal, () => this.heal()]);
    if (chunks.length > 0) {
      choices.push([f.moveFailure, () => {
        const [node, rid] = pick(this.rng, chunks);
        // The chunk request times out; the chunk itself may still arrive (and be applied).
        const lost = this.rng.bool();
        if (lost) for (const link of this.links.values()) if (link.from === node.id) link.queue.splice(0, link.queue.length, ...link.queue.filter((m) => !("rid" in m && m.kind === "chunk" && m.rid === rid)));
        this.note(`${node.id} chunk request ${rid} times out${lost ? " (chunk lost)" : ""}`);
        node.failRequest(rid);
      }]);
    }
    const total = choices.reduce((s, [w]) => s + w, 0);
    if (total <= 0) return;
    let r = this.rng.float() * total;
    for (const [w, run] of choices) {
      r -= w;
      if (r < 0) {
        this.faults++;
        run();
        return;
      }
    }
  }

  // ── client ─────────────────────────────────────────────────────────────────────────────────

  /** The node a client sends to: the master some node's `replicas` claims, or (stale map) any node. */
  private entryFor(pid: number): SimNode | undefined {
    const up = this.upNodes();
    if (up.length === 0) return undefined;
    if (this.rng.bool(0.7)) {
      const viewer = pick(this.rng, up);
      const master = viewer.proc!.cluster ? viewer.route(pid)?.master : undefined;
      const node = master === undefined ? undefined : this.nodes.get(master);
      if (node?.up) return node;
    }
    return pick(this.rng, up);
  }

  private clientOp(): void {
    const key = pick(this.rng, this.keys);
    const pid = this.pidOf(key);
    const r = this.rng.float();
    const op = r < 0.45 ? "put" : r < 0.6 ? "delete" : "read";
    const entry = this.entryFor(pid);
    if (entry !== undefined) this.handle(entry, op, key, pid, 0);
  }

  /** transaction.ts handleMessage: local, or proxied to the route's master (bounded hops). */
  private handle(n: SimNode, op: "put" | "delete" | "read", key: string, pid: number, hops: number): NodeId | null {
    const route = n.route(pid);
    const local = route !== null && (op === "read" ? n.canRead(pid) : route.master === n.id);
    if (!local) {
      const to = route?.master;
      if (to === undefined || hops >= PROXY_HOPS_MAX || to === n.id || !this.reachable(n.id, to)) {
        this.checker.stats.unavailable++;
        return null;
      }
      return this.handle(this.nodes.get(to)!, op, key, pid, hops + 1);
    }
    if (op === "read") {
      this.checker.onRead(key, n.id, n.disk.get(pid, key));
      return n.id;
    }
    const version = ++this.versionSeq;
    const res = n.write(pid, key, op === "put" ? version : 0, version);
    if (res.record === undefined) {
      this.checker.onRead(key, n.id, res.base, "delete");
      return n.id;
    }
    const outcome = res.failed.length > 0 && this.shell.replicaFailure === "in-doubt" ? "in-doubt" : "ack";
    this.note(`${op} ${key} p${pid} at ${n.id}: ${describeRecord(res.record)} over ${describeRecord(res.base)}, ${outcome}` +
      (res.failed.length > 0 ? ` (replica write to ${res.failed.join(" ")} failed)` : ""));
    this.checker.onWrite(key, n.id, res.base, res.record, outcome);
    return n.id;
  }

  // ── running ────────────────────────────────────────────────────────────────────────────────

  /**
   * One pending delivery or task, chosen at random; false when there is none. A recompute waits
   * on a 10 ms timer in the shell while fabric messages take well under a millisecond, so it is
   * picked less often, and rarely while holdings are still on their way to its node: that
   * coalesces announcements as the shell does (and keeps the ownership count per run bounded).
   * A resync waits on a timer too (200 ms, 1 s to retry), and is picked as seldom.
   */
  private work(): boolean {
    const links: Link[] = [];
    const inbound = new Set<NodeId>();
    for (const link of this.links.values()) {
      if (link.queue.length === 0) continue;
      links.push(link);
      if (link.queue.some((m) => m.kind === "holdings")) inbound.add(link.to);
    }
    const tasks: [SimNode, number, number][] = [];
    let total = links.length;
    for (const n of this.nodes.values()) {
      const list = n.proc?.tasks ?? [];
      for (let i = 0; i < list.length; i++) {
        const kind = list[i]!.kind;
        const weight = kind === "resync" ? 0.3 : kind !== "recompute" ? 1 : inbound.has(n.id) ? 0.05 : 0.3;
        tasks.push([n, i, weight]);
        total += weight;
      }
    }
    if (total === 0) return false;
    let r = this.rng.float() * total;
    if (r < links.length) {
      const link = links[Math.floor(r)]!;
      const msg = link.queue.shift()!;
      this.nodes.get(link.to)!.deliver(link.from, msg);
      return true;
    }
    r -= links.length;
    for (const [n, i, weight] of tasks) {
      r -= weight;
      if (r < 0) {
        n.runTask(i);
        return true;
      }
    }
    const [n, i] = tasks[tasks.length - 1]!;
    n.runTask(i);
    return true;
  }

  /** One step; false when `clients` is off and nothing was pending. */
  private runStep(faults: boolean, clients: boolean): boolean {
    this.clock += 1 + this.rng.int(3);
    this.step++;
    const r = this.rng.float();
    if (faults && r < this.options.faultRate) this.fault();
    else if (clients && r < this.options.faultRate + this.options.clientRate) this.clientOp();
    else if (!this.work()) {
      if (!clients) return false;
      this.clientOp();
    }
    this.checker.afterStep();
    return true;
  }

  start(): void {
    const ids = shuffle(this.rng, [...NODE_ID_POOL]).slice(0, this.options.nodes);
    this.note(`SEED ${this.options.seed}: rf ${this.rf}, ${this.keys.length} keys over ${this.hot.length} partitions, ` +
      `chunks of ${this.chunkRecords}, limits ${JSON.stringify(this.limits)}, ${this.snapshotStreams ? "snapshot" : "cursor"} streams, ` +
      `shell ${JSON.stringify(this.shell)}, mutation ${this.mutation}`);
    for (const id of ids) {
      const node = new SimNode(id, new Disk((key) => this.checker.touch(key)), this);
      this.nodes.set(id, node);
      node.boot();
    }
    this.groups = [ids];
    this.reform(ids);
    // The first cluster forms and settles before clients find it (they learn nodes from it).
    while (this.runStep(false, false));
  }

  runFaults(steps: number): void {
    for (let i = 0; i < steps; i++) this.runStep(true, true);
  }

  /** Faults stop; everything runs to completion; I4. Returns the steps it took. */
  quiet(): number {
    this.phase = "quiet";
    this.note("QUIET: faults stop");
    // One cluster change: every crashed node restarts and the network heals.
    for (const n of [...this.nodes.values()]) {
      if (n.state !== "down") continue;
      n.boot();
      this.note(`${n.id} RESTART`);
      this.groups.push([n.id]);
    }
    if (this.groups.length > 1) this.heal();
    const start = this.step;
    for (let i = 0; i < QUIET_CLIENT_STEPS; i++) this.runStep(false, true);
    while (this.runStep(false, false)) {
      if (this.step - start > QUIET_STEPS_MAX) this.fail("liveness", `still busy ${QUIET_STEPS_MAX} steps after faults stopped`);
    }
    for (const n of this.upNodes()) {
      const p = n.proc!;
      if (p.plan.length > 0 || p.inFlight.size > 0 || p.own === null || p.resync.pending > 0 || p.syncs.size > 0) {
        this.fail("liveness", `${n.id} is idle with ${p.plan.length} planned and ${p.inFlight.size} running moves, ` +
          `${p.resync.pending} owed resyncs and ${p.syncs.size} running, ownership ${p.own ? "known" : "unknown"}` +
          (p.plan.length > 0 ? `: first ${JSON.stringify(p.plan[0])}` : ""));
      }
    }
    this.checker.finalCheck();
    for (const key of this.keys) {
      const entry = pick(this.rng, this.upNodes());
      if (this.handle(entry, "read", key, this.pidOf(key), 0) === null) this.fail("I4 settled", `a read of ${key} from ${entry.id} found no node to serve it`);
    }
    return this.step - start;
  }

  // ── reporting ──────────────────────────────────────────────────────────────────────────────

  note(line: string): void {
    const text = `#${this.step} ${line}`;
    if (this.options.verbose) console.log(text);
    this.trace.push(text);
    if (this.trace.length > 400) this.trace.splice(0, this.trace.length - 300);
  }

  describeNodes(): string {
    return [...this.nodes.values()].map((n) => {
      if (n.proc === null) return `  ${n.id.padStart(12)} ${n.state.toUpperCase()} disk p[${[...n.disk.parts.keys()].join(",")}]`;
      const p = n.proc;
      return `  ${n.id.padStart(12)} up cluster ${p.clusterKey} own ${p.own ? "known" : "-"} plan ${p.plan.length} inFlight ${p.inFlight.size} ` +
        `owed ${p.resync.pending} syncs ${p.syncs.size} ` +
        `tasks [${p.tasks.map((t) => t.kind).join(",")}] line ${p.self.lastClusterKey} disk p[${[...n.disk.parts.keys()].join(",")}]`;
    }).join("\n");
  }

  /** The environment that makes rebalance.test.ts run this seed with these options. */
  private replayEnv(): string {
    const o = this.options;
    let env = "";
    if (JSON.stringify(o.shell) === JSON.stringify(SHELL_AS_IS)) env += "SIM_SHELL=as-is ";
    else if (JSON.stringify(o.shell) !== JSON.stringify(SHELL_AS_DESIGNED)) env += `SIM_SHELL='${JSON.stringify(o.shell)}' `;
    if (o.mutation !== "none") env += `SIM_MUTATION=${o.mutation} `;
    if (o.replicaLoss > 0) env += `SIM_REPLICA_LOSS=${o.replicaLoss} `;
    return env;
  }

  fail(invariant: string, detail: string): never {
    const message = [
      `rebalance simulation: invariant '${invariant}' broken at step ${this.step} (${this.phase} phase): ${detail}`,
      `seed ${this.options.seed}; replay: ${this.replayEnv()}SIM_SEED=${this.options.seed} SIM_VERBOSE=1 npx vitest run test/sim/rebalance.test.ts`,
      `groups ${this.groups.map((g) => `{${g.join(" ")}}`).join(" ")}; degraded [${[...this.checker.degraded.keys()].join(",")}]`,
      "nodes:",
      this.describeNodes(),
      "trace (last 120 lines):",
      ...this.trace.slice(-120),
    ].join("\n");
    throw new SimFailure(invariant, this.options.seed, message);
  }
}
