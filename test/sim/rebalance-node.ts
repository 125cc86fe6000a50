/**
 * One simulated shoal node for the rebalance simulator: a disk that survives crashes, and a
 * process (lost on a crash) that does what the shell does around the pure rebalancing core.
 *
 *   SimNode
 *     disk      Disk (rebalance-disk.ts)                   survives crash and restart (records, owed resyncs)
 *     proc      Proc: ClusterState + Rebalancer state      null while down
 *       cluster, map          the installed cluster (ClusterState.install)
 *       own, lastOwn          ownership of this cluster / the last one ever computed (routing)
 *       self, announced       holdings (server/core/partition-ownership.ts), per member
 *       plan, inFlight, completed, drops, early       the rebalancer's bookkeeping
 *       resync, syncs         copies owed a resync (kept on the disk too), and the sync streams running (resync.ts)
 *       tasks                 work the shell would do on a later event-loop turn or timer
 *
 * Mirrors server/cluster/rebalancer.ts and server/cluster/cluster-state.ts decision by decision
 * (install → cluster-entered, announce, recompute once every member announced, genesis claims,
 * drops via partitionsToDrop, plan → nextMoves → chunked streams, fill-started / fill-completed
 * at the receiver, merge-completed at the sender, merged winners replicated by the acting
 * master, bulk FILL_EMPTY for empty partitions, resyncs of copies that missed a replica write and
 * `diverged` after a cluster change, server/cluster/resync.ts), and server/service/transaction.ts
 * for routing.
 * Every `await` of the shell is a task or a message here, so the simulator interleaves client
 * traffic, faults and other nodes' work between any two of them. Where the shell has a choice
 * that the simulator explores (see ShellModel), the option names the file and behaviour.
 *
 * Deliberately NOT the shell's code: the simulator must stay small, synchronous and seedable.
 * When the shell changes behaviour, change the matching method here (each names its original).
 */
import {
  bootHoldings, hasPartition, holdsPartition, nextHoldings, type Holdings, type HoldingsEvent, type Ownership,
} from "../../server/core/partition-ownership.js";
import { type Move, moveKey, MoveKind, nextMoves, type MigrationLimits } from "../../server/core/migration-plan.js";
import type { PartitionMap } from "../../server/core/partition-map.js";
import { nextGeneration, supersedes } from "../../server/core/record-rules.js";
import type { Disk, NodeId, SimRecord } from "./rebalance-disk.js";
import { OwedResyncs, type ResyncCheck, type SyncRun } from "./rebalance-resync.js";
import { keepsOwedSyncs, type Mutation, type ShellModel } from "./rebalance-shell.js";

/** rebalancer.ts SYNC: a stream that repairs a copy (resync.ts); it changes no holdings. */
export const SYNC = "sync";
/** What a stream carries: a planned move, or a resync. */
export type StreamKind = MoveKind | typeof SYNC;

/** Fabric messages between nodes; requests carry an id that their reply echoes. */
export type Msg =
  | { readonly kind: "holdings"; readonly ck: string | null; readonly h: Holdings }
  | {
      readonly kind: "chunk"; readonly rid: number; readonly ck: string; readonly pid: number; readonly moveKind: StreamKind;
      readonly first: boolean; readonly last: boolean; readonly recs: readonly (readonly [string, SimRecord])[];
    }
  | { readonly kind: "fill-empty"; readonly rid: number; readonly ck: string; readonly pids: readonly number[] }
  | { readonly kind: "reply"; readonly rid: number; readonly ok: boolean };

/** What a node needs from the simulator. */
export interface Host {
  readonly limits: MigrationLimits;
  readonly chunkRecords: number;
  /** Streams read a snapshot taken at the start (memory store) rather than a live cursor (LMDB). */
  readonly snapshotStreams: boolean;
  readonly shell: ShellModel;
  readonly mutation: Mutation;
  now(): number;
  nextRid(): number;
  send(from: NodeId, to: NodeId, msg: Msg): void;
  reachable(from: NodeId, to: NodeId): boolean;
  mapFor(members: readonly NodeId[]): PartitionMap;
  ownership(map: PartitionMap, holdings: ReadonlyMap<NodeId, Holdings>): Ownership;
  plan(own: Ownership, holdings: ReadonlyMap<NodeId, Holdings>, self: NodeId): readonly Move[];
  /** Partitions of genesis that `self` must claim under `own` (cached: a pure function). */
  genesisOf(own: Ownership, self: NodeId): readonly number[];
  /** own.partitionsToDrop(self) (cached: a pure function). */
  dropsOf(own: Ownership, self: NodeId): readonly number[];
  /** A replica write over the fabric; false when it failed (unreachable, or a lost message). */
  replicaWrite(from: NodeId, to: NodeId, pid: number, key: string, record: SimRecord): boolean;
  note(line: string): void;
  /** A node's holdings changed (checked by the invariants). */
  holdingsChanged(node: NodeId, event: HoldingsEvent, before: Holdings, after: Holdings): void;
}

export interface InstalledCluster {
  readonly key: string;
  readonly members: readonly NodeId[];
}

/** A stream running out of this node: a move (rebalancer.ts inFlight) or a sync, with the stream's locals. */
interface Flight {
  readonly move: Omit<Move, "kind"> & { readonly kind: StreamKind };
  /** A resync: what its end reports to OwedResyncs (not in inFlight: it counts against no limit). */
  readonly sync?: SyncRun;
  readonly ck: string;
  first: boolean;
  lastSent: boolean;
  /** Snapshot streams: the records still to send; live cursor streams: the last key sent. */
  snapshot: [string, SimRecord][] | null;
  cursor: string | null;
}

/** An asynchronous drop (rebalancer.ts drop()): pids left, and the keys left of the current one. */
interface DropJob {
  readonly ck: string | null;
  readonly pids: readonly number[];
  index: number;
  keys: string[] | null;
}

export type Task =
  | { readonly kind: "install"; readonly cluster: InstalledCluster }
  | { readonly kind: "flush" }
  | { readonly kind: "recompute" }
  | { readonly kind: "schedule" }
  | { readonly kind: "continue"; readonly key: string }
  | { readonly kind: "drop"; readonly job: DropJob }
  | { readonly kind: "resync" }
  | { readonly kind: "failed"; readonly rid: number };

interface Pending {
  readonly ok: () => void;
  readonly fail: () => void;
  /** The move a chunk request belongs to (for the simulator's move-failure fault). */
  readonly flightKey?: string;
}

/** Process state: everything a crash loses. */
export class Proc {
  cluster: InstalledCluster | null = null;
  map: PartitionMap | null = null;
  clusterKey: string | null = null;
  previousKey: string | null = null;
  self: Holdings;
  announced = new Map<NodeId, Holdings>();
  /** Rebalancer st.own and ClusterState ownership (null until every member announced). */
  own: Ownership | null = null;
  /** ClusterState.lastOwnership: kept across cluster changes, for interim routing. */
  lastOwn: Ownership | null = null;
  /** The announcements `own` was computed from (for the checker: is this view current?). */
  ownInputs: ReadonlyMap<NodeId, Holdings> | null = null;
  plan: Move[] = [];
  readonly inFlight = new Map<string, Flight>();
  /** Copies owed a resync (Rebalancer.resync). */
  readonly resync: OwedResyncs;
  /** Sync streams running, by "sync:pid>target". */
  readonly syncs = new Map<string, Flight>();
  readonly completed = new Set<string>();
  readonly dropping = new Set<number>();
  early = new Map<string, { from: NodeId; msg: Msg }[]>();
  readonly pending = new Map<number, Pending>();
  /** Requests that failed, their handlers waiting for a later turn. */
  readonly failed = new Map<number, Pending>();
  /** Tasks in no particular order; the simulator picks which runs next. */
  readonly tasks: Task[] = [];
  flushQueued = false;
  recomputeQueued = false;
  scheduleQueued = false;
  /** Resyncer.timer: a `resync` task is queued. */
  resyncQueued = false;

  /**
   * `keepOwed`: owed resyncs survive a cluster change (resync.ts today; OwedResyncs); `owed`: the
   * disk's owed resyncs, which the process starts with and writes through (null: memory only).
   */
  constructor(self: Holdings, keepOwed: boolean, owed: Map<number, Set<NodeId>> | null) {
    this.self = self;
    this.resync = new OwedResyncs(keepOwed, owed);
  }
}

export interface Route {
  readonly master: NodeId;
  readonly targets: readonly NodeId[];
}

export class SimNode {
  proc: Proc | null = null;
  state: "up" | "down" | "removed" = "down";
  /** While down or removed: the full bitmap the process had when it stopped (I3 counts those copies). */
  lastFull: Uint8Array | null = null;

  constructor(readonly id: NodeId, readonly disk: Disk, private readonly host: Host) {}

  get up(): boolean {
    return this.state === "up";
  }

  /**
   * Process start: holdings from what is on disk, and the owed resyncs recorded there (Rebalancer
   * constructor, Resyncer.restore; before, "resync-volatile": none).
   */
  boot(): void {
    const shell = this.host.shell;
    this.proc = new Proc(bootHoldings(this.id, this.disk.onDisk()), keepsOwedSyncs(shell), shell.replicaRepair === "resync" ? this.disk.owed : null);
    this.lastFull = null;
    this.state = "up";
  }

  /** kill -9: the process and its memory go, the disk stays. */
  crash(): void {
    this.lastFull = this.proc?.self.full ?? null;
    this.proc = null;
    this.state = "down";
  }

  remove(): void {
    this.lastFull = this.proc?.self.full ?? null;
    this.proc = null;
    this.state = "removed";
  }

  private get p(): Proc {
    if (this.proc === null) throw new Error(`node ${this.id} has no process`);
    return this.proc;
  }

  private task(t: Task): void {
    this.p.tasks.push(t);
  }

  /** Runs and removes task `index` of this node. */
  runTask(index: number): void {
    const p = this.p;
    const [t] = p.tasks.splice(index, 1);
    switch (t!.kind) {
      case "install": return this.install(t.cluster);
      case "flush": p.flushQueued = false; return this.flush();
      case "recompute": p.recomputeQueued = false; return this.recomputeNow();
      case "schedule": p.scheduleQueued = false; return this.schedule();
      case "continue": return this.continueStream(t.key);
      case "drop": return this.dropStep(t.job);
      case "resync": p.resyncQueued = false; return this.resyncNow();
      case "failed": return this.requestFailed(t.rid);
    }
  }

  /** The membership layer installed a cluster here (node.ts onInstall → ClusterState, Rebalancer). */
  queueInstall(cluster: InstalledCluster): void {
    const p = this.p;
    const i = p.tasks.findIndex((t) => t.kind === "install");
    if (i >= 0) p.tasks.splice(i, 1);
    p.tasks.push({ kind: "install", cluster });
  }

  // ── cluster state (cluster-state.ts) ───────────────────────────────────────────────────────

  /** ClusterState.route; null when this node answers nothing (ShellModel alternatives). */
  route(pid: number): Route | null {
    const p = this.p;
    if (p.own) return { master: p.own.actingMaster(pid), targets: p.own.writeTargets(pid) };
    if (!p.map) return this.host.shell.beforeInstall === "local" ? { master: this.id, targets: [this.id] } : null;
    if (this.host.shell.interim === "unavailable") return null;
    const last = p.lastOwn;
    const members = new Set(p.cluster!.members);
    const prevMaster = last?.actingMaster(pid);
    const master = prevMaster !== undefined && members.has(prevMaster) ? prevMaster : p.map.master(pid);
    const targets = new Set([master, ...p.map.succession(pid), ...(last?.writeTargets(pid) ?? []).filter((t) => members.has(t))]);
    return { master, targets: [...targets] };
  }

  /** ClusterState.canRead. */
  canRead(pid: number): boolean {
    const p = this.p;
    if (p.own) return p.own.readable(pid, this.id);
    return this.route(pid)?.master === this.id;
  }

  // ── holdings (rebalancer.ts) ───────────────────────────────────────────────────────────────

  /** Rebalancer.install. */
  private install(c: InstalledCluster): void {
    const p = this.p;
    p.cluster = c;
    p.map = this.host.mapFor(c.members);
    p.previousKey = p.clusterKey;
    p.clusterKey = c.key;
    this.setSelf({ kind: "cluster-entered", previousClusterKey: p.previousKey, lastOwnership: p.own });
    // Copies that may hold writes another copy in line missed: merged in this cluster. The owed
    // syncs stay and go on in this cluster (before, "resync-forget", "resync-as-is": forgotten).
    const diverged = p.resync.diverged();
    if (diverged.length > 0 && this.host.mutation !== "resync-without-diverged") this.setSelf({ kind: "diverged", pids: diverged });
    p.own = null;
    p.ownInputs = null;
    p.plan = [];
    p.completed.clear();
    p.announced = new Map([[this.id, p.self]]);
    this.host.note(`${this.id} install ${c.key} [${c.members.join(" ")}]`);
    this.announce();
    const early = p.early.get(c.key) ?? [];
    p.early.clear();
    for (const e of early) this.onHoldings(e.from, e.msg as Extract<Msg, { kind: "holdings" }>);
    // Resyncer.clusterChanged: owed syncs are tried again in this cluster.
    if (p.resync.size > 0) this.wakeResync();
    this.recompute();
  }

  private setSelf(event: HoldingsEvent): void {
    const p = this.p;
    const before = p.self;
    p.self = nextHoldings(before, event);
    this.host.holdingsChanged(this.id, event, before, p.self);
  }

  /** Rebalancer.noteReplicaData. */
  noteReplicaData(pid: number): void {
    const p = this.p;
    if (holdsPartition(p.self, pid)) return;
    this.change({ kind: "fill-started", pids: [pid] });
  }

  private announce(): void {
    const p = this.p;
    for (const m of p.cluster?.members ?? []) if (m !== this.id) this.host.send(this.id, m, { kind: "holdings", ck: p.clusterKey, h: p.self });
  }

  /** Rebalancer.change: apply now, announce and recompute on the next turn (coalesced). */
  private change(event: HoldingsEvent): void {
    const p = this.p;
    this.setSelf(event);
    p.announced.set(this.id, p.self);
    if (p.flushQueued) return;
    p.flushQueued = true;
    this.task({ kind: "flush" });
  }

  private flush(): void {
    this.announce();
    this.recompute();
  }

  private onHoldings(from: NodeId, msg: Extract<Msg, { kind: "holdings" }>): void {
    const p = this.p;
    if (typeof msg.ck !== "string") return;
    if (msg.ck !== p.clusterKey) {
      if (p.early.size < 8 || p.early.has(msg.ck)) p.early.set(msg.ck, [...(p.early.get(msg.ck) ?? []), { from, msg }].slice(-256));
      return;
    }
    if (!p.cluster!.members.includes(from)) return;
    p.announced.set(from, msg.h);
    this.recompute();
  }

  /** Rebalancer.recompute: coalesced behind a timer. */
  private recompute(): void {
    const p = this.p;
    if (p.recomputeQueued) return;
    p.recomputeQueued = true;
    this.task({ kind: "recompute" });
  }

  /** Rebalancer.recomputeNow. */
  private recomputeNow(): void {
    const p = this.p;
    const map = p.map;
    if (!map || !map.nodes.every((m) => p.announced.has(m))) return;
    const own = this.host.ownership(map, p.announced);
    const genesis = this.host.genesisOf(own, this.id);
    if (genesis.length > 0) return this.change({ kind: "genesis-claimed", pids: genesis });
    p.own = own;
    p.lastOwn = own;
    p.ownInputs = new Map(p.announced);
    const drops: number[] = this.host.mutation === "drop-before-complete"
      ? [...this.disk.parts.keys()].filter((pid) => !map.succession(pid).includes(this.id) && !p.dropping.has(pid))
      // A copy still owed to another (resync.ts) stays until the sync is done.
      : this.host.dropsOf(own, this.id).filter((pid) => !p.dropping.has(pid) && !p.resync.owes(pid));
    if (drops.length > 0) this.startDrop(drops);
    const all = this.host.plan(own, p.announced, this.id);
    const plan = p.completed.size === 0 ? [...all] : all.filter((m) => !p.completed.has(moveKey(m)));
    p.plan = this.completeEmptyMoves(plan);
    this.schedule();
  }

  // ── drops ──────────────────────────────────────────────────────────────────────────────────

  private startDrop(pids: number[]): void {
    const p = this.p;
    for (const pid of pids) p.dropping.add(pid);
    this.host.note(`${this.id} drop ${pids.length} partitions`);
    if (this.host.shell.drop === "announce-first") this.change({ kind: "dropped", pids });
    this.dropStep({ ck: p.clusterKey, pids, index: 0, keys: null });
  }

  /** One awaited record removal of a drop per step (ShellModel.drop says which records, and when `dropped`). */
  private dropStep(job: DropJob): void {
    const p = this.p;
    const first = this.host.shell.drop === "announce-first";
    const heldAgain = (pid: number) => holdsPartition(p.self, pid);
    for (;;) {
      if (job.index >= job.pids.length) {
        // Records that arrived since their partition's snapshot (late replica writes from a
        // master that has not heard of the drop yet) go too, unless the partition is held again.
        const left = first ? job.pids.findIndex((pid) => this.disk.hasData(pid) && !heldAgain(pid)) : -1;
        if (left < 0) break;
        job.index = left;
      }
      const pid = job.pids[job.index]!;
      if (job.keys === null) job.keys = first && heldAgain(pid) ? [] : this.disk.entries(pid).map(([k]) => k);
      // A replica write or a fill made this node hold the partition again: keep what it has.
      if (first && heldAgain(pid)) job.keys = [];
      const key = job.keys.shift();
      if (key === undefined) {
        job.index++;
        job.keys = null;
        continue;
      }
      this.disk.remove(pid, key);
      this.task({ kind: "drop", job });
      return;
    }
    for (const pid of job.pids) p.dropping.delete(pid);
    // A partition held again while its drop ran was left out of every plan meanwhile: look again.
    if (first) return this.recompute();
    if (job.ck !== p.clusterKey) {
      this.host.note(`${this.id} drop of ${job.pids.length} partitions finished after a cluster change: holdings unchanged`);
      return;
    }
    this.change({ kind: "dropped", pids: job.pids });
  }

  // ── moves out ──────────────────────────────────────────────────────────────────────────────

  /** Rebalancer.schedule. */
  private schedule(): void {
    const p = this.p;
    if (!p.own) return;
    p.plan = p.plan.filter((m) => !p.completed.has(moveKey(m)));
    const perTarget = new Map<NodeId, number>();
    for (const f of p.inFlight.values()) perTarget.set(f.move.to, (perTarget.get(f.move.to) ?? 0) + 1);
    if (p.inFlight.size >= this.host.limits.outMax) return;
    const inFlight = { out: new Set(p.inFlight.keys()), perTargetCount: perTarget };
    for (const move of nextMoves(p.plan, inFlight, this.host.limits)) this.start(move);
  }

  private scheduleLater(): void {
    const p = this.p;
    if (p.scheduleQueued) return;
    p.scheduleQueued = true;
    this.task({ kind: "schedule" });
  }

  /** Rebalancer.completeEmptyMoves: empty merges complete at once, empty fills go in bulk. */
  private completeEmptyMoves(plan: Move[]): Move[] {
    const p = this.p;
    const rest: Move[] = [];
    const merges: number[] = [];
    const fills = new Map<NodeId, number[]>();
    for (const move of plan) {
      if (this.disk.hasData(move.pid) || (p.inFlight.size > 0 && p.inFlight.has(moveKey(move)))) {
        rest.push(move);
        continue;
      }
      if (move.kind === MoveKind.MERGE) merges.push(move.pid);
      else {
        const pids = fills.get(move.to);
        if (pids === undefined) fills.set(move.to, [move.pid]);
        else pids.push(move.pid);
      }
    }
    if (merges.length > 0) this.change({ kind: "merge-completed", pids: merges });
    const ck = p.clusterKey!;
    for (const [to, pids] of fills) {
      const keys = pids.map((pid) => moveKey({ pid, from: this.id, to, kind: MoveKind.FILL }));
      for (const [i, k] of keys.entries()) {
        p.inFlight.set(k, { move: { pid: pids[i]!, from: this.id, to, kind: MoveKind.FILL }, ck, first: true, lastSent: true, snapshot: null, cursor: null });
      }
      const done = () => {
        for (const k of keys) p.inFlight.delete(k);
        if (ck === p.clusterKey) this.scheduleLater();
      };
      this.request(to, { kind: "fill-empty", rid: 0, ck, pids }, {
        ok: () => {
          if (ck === p.clusterKey) for (const k of keys) p.completed.add(k);
          done();
        },
        fail: done,
      });
    }
    return rest;
  }

  private request(to: NodeId, msg: Extract<Msg, { rid: number }>, pending: Pending): void {
    const rid = this.host.nextRid();
    this.p.pending.set(rid, pending);
    this.host.send(this.id, to, { ...msg, rid } as Msg);
  }

  /** Rebalancer.start + the synchronous start of stream(): the first chunk goes out now. */
  private start(move: Move): void {
    const p = this.p;
    const key = moveKey(move);
    const snapshot = this.host.snapshotStreams ? this.disk.entries(move.pid) : null;
    const flight: Flight = { move, ck: p.clusterKey!, first: true, lastSent: false, snapshot, cursor: null };
    p.inFlight.set(key, flight);
    this.host.note(`${this.id} start ${move.kind} p${move.pid} → ${move.to}`);
    this.sendChunk(key, flight);
  }

  /** The stream's loop: the next chunk, or the end of the stream once the last one was acknowledged. */
  private continueStream(key: string): void {
    const flight = this.p.inFlight.get(key) ?? this.p.syncs.get(key);
    if (flight === undefined) return;
    if (flight.lastSent) return flight.sync ? this.syncEnded(key, flight, true) : this.moveDone(key, flight);
    this.sendChunk(key, flight);
  }

  private sendChunk(key: string, f: Flight): void {
    const p = this.p;
    const failed = () => (f.sync ? this.syncEnded(key, f, false) : this.moveFailed(key, f));
    // stream(): send() throws once the cluster changed.
    if (f.ck !== p.clusterKey) return failed();
    const max = this.host.chunkRecords;
    let recs: [string, SimRecord][];
    if (f.snapshot !== null) recs = f.snapshot.splice(0, max);
    else {
      const cursor = f.cursor;
      recs = this.disk.entries(f.move.pid).filter(([k]) => cursor === null || k > cursor).slice(0, max);
      if (recs.length > 0) f.cursor = recs[recs.length - 1]![0];
    }
    const last = recs.length < max;
    const msg: Msg = { kind: "chunk", rid: 0, ck: f.ck, pid: f.move.pid, moveKind: f.move.kind, first: f.first, last, recs };
    this.request(f.move.to, msg, {
      ok: () => {
        f.first = false;
        f.lastSent = last;
        this.task({ kind: "continue", key });
      },
      fail: failed,
      flightKey: key,
    });
  }

  private moveDone(key: string, f: Flight): void {
    const p = this.p;
    if (p.inFlight.get(key) === f) p.inFlight.delete(key);
    if (f.ck !== p.clusterKey) return;
    p.completed.add(key);
    this.host.note(`${this.id} done ${f.move.kind} p${f.move.pid} → ${f.move.to}`);
    if (f.move.kind !== MoveKind.MERGE) return this.schedule();
    // A current copy was handed over or filled again in this cluster: nothing is left to merge.
    if (this.host.shell.mergeDone === "recheck" && hasPartition(p.self.current, f.move.pid)) {
      this.host.note(`${this.id} merge p${f.move.pid} → ${f.move.to} no longer needed: copy kept`);
      return;
    }
    this.change({ kind: "merge-completed", pids: [f.move.pid] });
  }

  private moveFailed(key: string, f: Flight): void {
    const p = this.p;
    if (p.inFlight.get(key) === f) p.inFlight.delete(key);
    this.host.note(`${this.id} failed ${f.move.kind} p${f.move.pid} → ${f.move.to}`);
    if (f.ck === p.clusterKey) this.scheduleLater();
  }

  // ── resyncs (resync.ts) ────────────────────────────────────────────────────────────────────

  /** Rebalancer.noteReplicaFailed: a replica write of `pid` to `to` failed after it was stored here. */
  private noteReplicaFailed(pid: number, to: NodeId): void {
    if (this.host.shell.replicaRepair === "none") return;
    this.p.resync.noteFailed(pid, to);
    this.host.note(`${this.id} owes ${to} a resync of p${pid}`);
    this.wakeResync();
  }

  /** Resyncer.wake: a `resync` task (its timer: RESYNC_DELAY_MS, or RESYNC_RETRY_MS after a failure). */
  private wakeResync(): void {
    const p = this.p;
    if (p.resyncQueued) return;
    p.resyncQueued = true;
    this.task({ kind: "resync" });
  }

  /**
   * Resyncer.run: a sync of each owed copy not being synced, RESYNC_CONCURRENCY at most, after
   * ResyncDeps.check (rebalancer.ts): "nothing-held" when this node holds neither a full nor a
   * partial copy of the partition, "target-gone" when ownership is known and the target is no
   * write target of it.
   */
  private resyncNow(): void {
    const p = this.p;
    // rebalancer.ts gives the Resyncer no cluster key until one is installed (and entered), nor,
    // today, until its ownership is computed (before, "resync-forget", "resync-as-is": as soon as
    // it is entered).
    const ck = !keepsOwedSyncs(this.host.shell) || p.own !== null ? p.clusterKey : null;
    if (ck === null) return this.wakeResync();
    const check = (pid: number, to: NodeId): ResyncCheck => {
      if (!holdsPartition(p.self, pid)) return "nothing-held";
      return p.own && !p.own.writeTargets(pid).includes(to) ? "target-gone" : "yes";
    };
    const owedBefore = p.resync.size;
    const runs = p.resync.start(ck, check);
    // ResyncDeps.settled (designed shell): a drop held back for an owed sync may go now.
    if (p.resync.size < owedBefore && keepsOwedSyncs(this.host.shell)) this.recompute();
    for (const run of runs) {
      const key = `sync:${run.id}`;
      const snapshot = this.host.snapshotStreams ? this.disk.entries(run.pid) : null;
      const flight: Flight = {
        move: { pid: run.pid, from: this.id, to: run.to, kind: SYNC }, sync: run, ck: run.ck, first: true, lastSent: false, snapshot, cursor: null,
      };
      p.syncs.set(key, flight);
      this.host.note(`${this.id} start sync p${run.pid} → ${run.to}`);
      this.sendChunk(key, flight);
    }
  }

  /** The end of a sync stream (`ok`: the target acknowledged its last chunk). */
  private syncEnded(key: string, f: Flight, ok: boolean): void {
    const p = this.p;
    if (p.syncs.get(key) === f) p.syncs.delete(key);
    this.host.note(`${this.id} ${ok ? "done" : "failed"} sync p${f.move.pid} → ${f.move.to}`);
    if (p.resync.finished(f.sync!, ok, p.clusterKey)) this.wakeResync();
    // A drop held back for this copy may go now (ResyncDeps.settled → recompute; designed shell).
    if (!p.resync.owes(f.move.pid) && keepsOwedSyncs(this.host.shell)) this.recompute();
  }

  /** Chunk requests of running moves (for the move-failure fault). */
  chunkRequests(): number[] {
    const out: number[] = [];
    for (const [rid, pending] of this.p.pending) if (pending.flightKey !== undefined) out.push(rid);
    return out;
  }

  /**
   * A request failed (timeout, connection lost): a reply arriving later is ignored, and the
   * handler runs on a later turn.
   */
  failRequest(rid: number): void {
    const p = this.proc;
    const pending = p?.pending.get(rid);
    if (p === null || p === undefined || pending === undefined) return;
    p.pending.delete(rid);
    p.failed.set(rid, pending);
    this.task({ kind: "failed", rid });
  }

  private requestFailed(rid: number): void {
    const pending = this.p.failed.get(rid);
    if (pending === undefined) return;
    this.p.failed.delete(rid);
    pending.fail();
  }

  // ── fabric in ──────────────────────────────────────────────────────────────────────────────

  deliver(from: NodeId, msg: Msg): void {
    switch (msg.kind) {
      case "holdings": return this.onHoldings(from, msg);
      case "chunk": return this.reply(from, msg.rid, this.onChunk(from, msg));
      case "fill-empty": return this.reply(from, msg.rid, this.onFillEmpty(msg));
      case "reply": {
        const pending = this.p.pending.get(msg.rid);
        if (pending === undefined) return;
        this.p.pending.delete(msg.rid);
        return msg.ok ? pending.ok() : pending.fail();
      }
    }
  }

  private reply(to: NodeId, rid: number, ok: boolean): void {
    this.host.send(this.id, to, { kind: "reply", rid, ok });
  }

  /** Rebalancer.onChunk. */
  private onChunk(from: NodeId, msg: Extract<Msg, { kind: "chunk" }>): boolean {
    const p = this.p;
    if (msg.ck !== p.clusterKey) return false;
    if (msg.moveKind === SYNC) return this.onSyncChunk(from, msg);
    const merge = msg.moveKind === MoveKind.MERGE;
    // Without ownership this node does not know whom to replicate merged winners to: with the
    // shell's interim route it guesses (last ownership); without one it must refuse (retried).
    if (merge && p.own === null && this.host.shell.interim === "unavailable") return false;
    if (!merge && msg.first) {
      this.setSelf({ kind: "fill-started", pids: [msg.pid] });
      p.announced.set(this.id, p.self);
    }
    for (const [key, record] of msg.recs) {
      const won = this.host.mutation === "merge-ignores-generation" || supersedes(record, this.disk.get(msg.pid, key));
      if (won) this.disk.put(msg.pid, key, record);
      if (won && merge) this.replicate(msg.pid, key, record, from);
    }
    const completes = msg.last || (this.host.mutation === "fill-completes-early" && msg.first);
    if (completes && !merge && msg.ck === p.clusterKey) this.change({ kind: "fill-completed", pids: [msg.pid] });
    return true;
  }

  /**
   * Rebalancer.onChunk for a sync: refused while the partition is being dropped here (retried);
   * acknowledged without storing when this node is no write target of it; else each record
   * stored if it supersedes the local copy. No holdings change, except as for a replica write
   * (unless ShellModel.replicaRepair is "resync-as-is"): records of a partition this node holds
   * nothing of make its copy partial. Records that win are replicated to the other write targets
   * like merged winners (designed shell): a sync that reaches a later cluster's acting master
   * after it filled other copies must reach those too.
   */
  private onSyncChunk(from: NodeId, msg: Extract<Msg, { kind: "chunk" }>): boolean {
    const p = this.p;
    if (p.dropping.has(msg.pid)) return false;
    if (p.own && !p.own.writeTargets(msg.pid).includes(this.id)) return true;
    if (msg.recs.length > 0 && this.host.shell.replicaRepair !== "resync-as-is") this.noteReplicaData(msg.pid);
    for (const [key, record] of msg.recs) {
      const won = this.host.mutation === "merge-ignores-generation" || supersedes(record, this.disk.get(msg.pid, key));
      if (won) this.disk.put(msg.pid, key, record);
      if (won && keepsOwedSyncs(this.host.shell)) this.replicate(msg.pid, key, record, from);
    }
    return true;
  }

  /** Rebalancer.onFillEmpty. */
  private onFillEmpty(msg: Extract<Msg, { kind: "fill-empty" }>): boolean {
    if (msg.ck !== this.p.clusterKey) return false;
    this.change({ kind: "fill-completed", pids: msg.pids });
    return true;
  }

  /** Rebalancer.replicate: merged winners go to the other write targets; a failure is owed a resync. */
  private replicate(pid: number, key: string, record: SimRecord, except: NodeId): void {
    const targets = (this.route(pid)?.targets ?? []).filter((t) => t !== this.id && t !== except);
    this.host.note(`${this.id} merged ${key} v${record.version} from ${except}, replicates to [${targets.join(" ")}]`);
    for (const t of targets) if (!this.host.replicaWrite(this.id, t, pid, key, record)) this.noteReplicaFailed(pid, t);
  }

  /** replica.ts applyReplicaWrite. */
  applyReplicaWrite(pid: number, key: string, record: SimRecord): void {
    this.noteReplicaData(pid);
    if (record.tombstone && this.host.mutation === "delete-without-tombstone") return this.disk.remove(pid, key);
    if (supersedes(record, this.disk.get(pid, key))) this.disk.put(pid, key, record);
  }

  // ── transactions (transaction.ts write()) ──────────────────────────────────────────────────

  /**
   * A put (value > 0) or delete (value 0) applied here as master. Returns the stored record
   * (undefined: NOT_FOUND, nothing changed), the version it replaced, and the targets that failed.
   */
  write(pid: number, key: string, value: number, version: number): { record?: SimRecord; base?: SimRecord; failed: NodeId[] } {
    const now = this.host.now();
    const stored = this.disk.get(pid, key);
    const existing = stored?.tombstone ? undefined : stored;
    let record: SimRecord;
    if (value === 0) {
      if (existing === undefined) return { base: stored, failed: [] };
      record = { generation: nextGeneration(existing.generation), lastUpdateMs: Math.max(now, existing.lastUpdateMs + 1), tombstone: true, value: 0, version };
    } else {
      record = { generation: nextGeneration(existing?.generation), lastUpdateMs: Math.max(now, (existing?.lastUpdateMs ?? 0) + 1), tombstone: false, value, version };
      if (stored?.tombstone) {
        record = { ...record, generation: nextGeneration(stored.generation), lastUpdateMs: Math.max(record.lastUpdateMs, stored.lastUpdateMs + 1) };
      }
    }
    if (record.tombstone && this.host.mutation === "delete-without-tombstone") this.disk.remove(pid, key);
    else this.disk.put(pid, key, record);
    const failed: NodeId[] = [];
    let targets = (this.route(pid)?.targets ?? []).filter((t) => t !== this.id);
    if (this.host.mutation === "skip-filling-target" && targets.length > 1) targets = targets.slice(0, -1);
    for (const t of targets) if (!this.host.replicaWrite(this.id, t, pid, key, record)) failed.push(t);
    // A copy that missed the write is repaired from this one, under any commit level.
    for (const t of failed) this.noteReplicaFailed(pid, t);
    return { record, base: stored, failed };
  }
}
