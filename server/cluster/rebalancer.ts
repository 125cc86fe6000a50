/**
 * Rebalancer: the shell around partition ownership and the migration planner
 * (server/core/partition-ownership.ts, server/core/migration-plan.ts).
 *
 *   install(cluster) ──▶ holdings := nextHoldings(cluster-entered) ──announce──▶ every member
 *   holdings from every member ──▶ computeOwnership ──▶ ClusterState (routing, `replicas`)
 *                                                   ├─▶ genesis claims, drops (dropSafe)
 *                                                   └─▶ planMigrations → nextMoves → streams
 *   stream: partition records in bounded chunks over the fabric, one chunk in flight per move
 *           (acked window), the event loop yielded between chunks; the receiver merges each
 *           record by generation then last-update time, so nothing newer is ever overwritten.
 *   fill done   → receiver announces fill-completed;  merge done → sender announces merge-completed
 *
 * Everything that decides is pure and lives in server/core; this class only moves bytes and
 * keeps the bookkeeping of what is in flight. Bounds: moves in flight out of this node and into
 * each target (planner limits), records and bytes per chunk, one outstanding chunk per move.
 */
import { BucketSums, bucketCount, bucketOf, decodeVersions, deltaFilter, encodeVersions, Version } from "../core/partition-delta.js";
import { MoveKind, Move, moveKey, nextMoves, planMigrations, migrationLimits, MigrationLimits } from "../core/migration-plan.js";
import {
  bootHoldings, computeOwnership, hasPartition, Holdings, holdsPartition, HoldingsEvent, nextHoldings, Ownership, PARTITION_BITMAP_BYTES, partitionBitmapOf,
} from "../core/partition-ownership.js";
import { PARTITION_COUNT } from "../../client/protocol/constants.js";
import { KvError } from "../../client/protocol/errors.js";
import { isRetryableResult, ResultCode } from "../../client/protocol/result-code.js";
import type { Namespace } from "../service/namespace.js";
import { FabricRequest, lockKey, ReplicaWrite, TransactionContext } from "../service/transaction.js";
import type { EncodedEntry, IncomingRecord, StoredRecord } from "../storage/record-store.js";
import type { InstalledClusterInfo } from "./cluster-driver.js";
import type { ClusterState } from "./cluster-state.js";
import type { Fabric } from "./fabric.js";
import { CHUNK_BYTES_MAX, CHUNK_RECORDS_MAX, chunkEntryBytes, encodeChunk, parseChunk } from "./migration-chunk.js";
import { Resyncer } from "./resync.js";
import { decodeRecord } from "../storage/record-codec.js";
import { Gate } from "../service/gate.js";
import { Turns } from "../service/turns.js";
import { Roster } from "./roster.js";

export const RebalanceRequest = {
  HOLDINGS: "holdings",
  CHUNK: "migrate-chunk",
  FILL_EMPTY: "fill-empty",
  /** Delta step 1: the receiver's record count and bucket sums of its copy of a partition. */
  DELTA_PROBE: "migrate-probe",
  /** Delta step 2: the receiver's versions in the buckets that differ. */
  DELTA_SUMMARY: "migrate-summary",
} as const;

/** Versions in one summary reply at most (~7 MiB); beyond it the sender streams whole buckets. */
export const SUMMARY_VERSIONS_MAX = 256 * 1024;
/** Attempts of one chunk on a retryable fabric error before the move fails (and later resumes). */
const CHUNK_ATTEMPTS = 4;

/** Coalescing window of ownership recomputations. */
const RECOMPUTE_DELAY_MS = 10;
/**
 * Least time between two recomputations, and between two holdings announcements, while a
 * rebalance runs. Every announcement makes every member recompute (a few ms at 4096 partitions,
 * more on a busy node), and a joining node finishes hundreds of moves a second: announcing each
 * turn's moves made the recomputations most of a rebalance's CPU time. Costs at most this much
 * delay before a filled copy serves, or a dropped one stops receiving writes (it refuses them
 * from the start: `dropping`).
 */
const RECOMPUTE_GAP_MS = 100;
/**
 * The gap between recomputations instead, while this node has planned moves it has not started
 * (work in hand: what it learns can wait). At 100 ms the recomputations still took ~11% of each
 * sender's CPU in a profiled join (1M records, 4 nodes on 2 cores: ~12 ms each under
 * contention). Not for a node whose plan has run dry: it learns of newly possible moves (fills
 * that a finished merge allows) only through a recomputation.
 */
const RECOMPUTE_GAP_BUSY_MS = 250;
/**
 * And at least this many times the last recomputation's own duration: recomputing takes at most
 * ~1/32 of the node's time while a rebalance runs, however slow the box. A joining node, with no
 * work in hand, recomputed every 100 ms at ~5-6 ms each on a slowed box: 5-9% of its busy time
 * while it was the rebalance's bottleneck (two paired profiled joins, 500k records).
 */
const RECOMPUTE_GAP_PER_COST = 32;
/** The most that rule asks for (a cold first recomputation after a cluster change is slow). */
const RECOMPUTE_GAP_COST_MAX_MS = 500;

export interface RebalancerLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Migration counters for `statistics`, `/v1/cluster` and metrics. */
export class MigrationStats {
  remaining = 0;
  inProgress = 0;
  movesDone = 0;
  movesFailed = 0;
  recordsOut = 0;
  bytesOut = 0;
  recordsIn = 0;
  bytesIn = 0;
  partitionsDropped = 0;
  /** Records a move did not send because the receiver already held that version (delta). */
  recordsSkipped = 0;
  /** Bytes of delta bookkeeping received by senders (bucket sums, summaries); part of bytesOut. */
  deltaBytes = 0;
  /** Chunks sent again after a retryable fabric error. */
  chunkRetries = 0;
  /** Moves the receiver refused for now (its intake was full); planned again shortly. */
  movesDeferred = 0;
  /** Per-second rates over the last sampling period (RATE_PERIOD_MS). */
  recordsOutPerSec = 0;
  bytesOutPerSec = 0;
  recordsInPerSec = 0;
  bytesInPerSec = 0;
  private last = { ms: Date.now(), recordsOut: 0, bytesOut: 0, recordsIn: 0, bytesIn: 0 };

  /** Updates the rates from the counters' change since the previous sample. */
  sampleRates(nowMs: number): void {
    const dt = (nowMs - this.last.ms) / 1000;
    if (dt <= 0) return;
    this.recordsOutPerSec = Math.round((this.recordsOut - this.last.recordsOut) / dt);
    this.bytesOutPerSec = Math.round((this.bytesOut - this.last.bytesOut) / dt);
    this.recordsInPerSec = Math.round((this.recordsIn - this.last.recordsIn) / dt);
    this.bytesInPerSec = Math.round((this.bytesIn - this.last.bytesIn) / dt);
    this.last = { ms: nowMs, recordsOut: this.recordsOut, bytesOut: this.bytesOut, recordsIn: this.recordsIn, bytesIn: this.bytesIn };
  }
}

/** An incoming move with no message for this long no longer counts against the intake bound. */
const INTAKE_IDLE_MS = 35_000;

/** Migration chunks stored at once on a receiver (the others wait: gate.ts). */
const CHUNK_STORES_MAX = 4;

/** Records removed per LMDB batch when a partition copy is dropped. */
const DROP_BATCH_RECORDS = 1024;
/** Partitions removed per LMDB commit while dropping (a partition holds ~250 records at 1M). */
const DROP_PARTITIONS_PER_COMMIT = 4;

/** A sync chunk this node no longer wants: acked, not stored (onChunk). */
const MOOT = Symbol("moot");
/** Drops wait for the moves at most this long (holdDrops). */
const DROP_HOLD_MAX_MS = 20_000;

/** A rebalance ends once this node has had no move to make for this long. */
const REBALANCE_QUIET_MS = 2000;

/** Sampling period of the migration rates. */
const RATE_PERIOD_MS = 1000;

interface NsState {
  /**
   * Moves this node must make, from the last recomputation (empty partitions already settled),
   * each with its key (`ns/moveKey`), in the planner's order. A move leaves it when it completes.
   */
  plan: PlannedMove[];
  self: Holdings;
  /** Holdings announced for the current cluster, by member. */
  announced: Map<string, Holdings>;
  own: Ownership | null;
}

type PlannedMove = Move & { readonly key: string };

/** A resync (resync.ts): a delta stream to a copy that missed a write; it changes no holdings. */
const SYNC = "sync";
/** What a stream carries: a planned move, or a resync. */
type StreamMove = Omit<Move, "kind"> & { readonly kind: MoveKind | typeof SYNC };

interface ChunkPayload {
  ck: string;
  ns: string;
  pid: number;
  kind: string;
  first: boolean;
  last: boolean;
  /** The records (migration-chunk.ts). */
  b: Buffer;
  /** Records in `b`. */
  n: number;
}

export class Rebalancer {
  readonly stats = new MigrationStats();
  private readonly resync = new Resyncer({
    clusterKey: () => (this.entering === null && [...this.ns.values()].every((st) => st.own !== null) ? this.clusterKey : null),
    check: (ns, pid, to) => {
      const st = this.ns.get(ns);
      if (!st || !holdsPartition(st.self, pid)) return "nothing-held";
      return st.own && !st.own.writeTargets(pid).includes(to) ? "target-gone" : "yes";
    },
    sync: (ns, pid, to, ck) => this.stream(ns, { pid, from: this.selfId, to, kind: SYNC }, ck),
    settled: (ns) => this.recompute(ns), // a drop held back for an owed sync may go now
  });
  private readonly ns = new Map<string, NsState>();
  private clusterKey: string | null = null;
  /** Holdings that arrived for a cluster this node has not installed yet. */
  private early = new Map<string, Array<{ from: string; payload: unknown }>>();
  private readonly inFlight = new Map<string, Move & { ns: string }>();
  /**
   * Moves finished in this cluster. The receiver's announcement that it is full follows the last
   * chunk's ack by a round trip; until it arrives the plan still lists the move, which must not
   * start again. Cleared on every cluster change.
   */
  private readonly completed = new Set<string>();
  private readonly limits: MigrationLimits;
  private rebalancing = false;
  private rebalanceStart = { ms: 0, recordsOut: 0, bytesOut: 0, recordsIn: 0, bytesIn: 0, moves: 0 };
  private idleSinceMs = 0;
  private quietTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Namespaces whose holdings changed and must be announced and recomputed (coalesced per turn). */
  private readonly dirty = new Set<string>();
  private flushScheduled = false;
  private readonly rateTimer: NodeJS.Timeout;
  private readonly roster: Roster;
  /** Moves streaming into this node at once, from all senders, at most. */
  private readonly intakeMax: number;
  /** Incoming moves (sender/kind:pid) by the time of their last message; idle ones expire. */
  private readonly intake = new Map<string, number>();

  constructor(
    private readonly selfId: string,
    private readonly namespaces: ReadonlyMap<string, Namespace>,
    private readonly cluster: ClusterState,
    private readonly fabric: Fabric,
    private readonly tx: TransactionContext,
    private readonly log: RebalancerLogger,
    /** From the config: moves out (and into any one peer), moves in from all senders. */
    limits: { readonly outMax: number; readonly intakeMax: number },
    /** Where the roster of recent members is kept (`<dataDir>/roster.json`); memory only if unset. */
    rosterFile?: string,
    /** Where owed resyncs are kept across restarts (owed-syncs.ts); memory only if unset. */
    owedSyncs?: Parameters<Resyncer["restore"]>[0],
  ) {
    if (owedSyncs) this.resync.restore(owedSyncs);
    this.roster = new Roster(rosterFile);
    this.limits = migrationLimits({ outMax: limits.outMax, inMax: limits.outMax });
    this.intakeMax = limits.intakeMax;
    for (const n of namespaces.values()) {
      this.ns.set(n.name, { plan: [], self: bootHoldings(selfId, partitionsOnDisk(n)), announced: new Map(), own: null });
    }
    this.rateTimer = setInterval(() => {
      const now = Date.now();
      this.stats.sampleRates(now);
      if (this.clusterKey) this.roster.seen(this.cluster.members, now);
      // A holdings announcement lost to a connection not yet up would stall the exchange.
      if (this.clusterKey && this.entering === null) for (const [name, st] of this.ns) if (!st.own) this.announce(name);
    }, RATE_PERIOD_MS);
    this.rateTimer.unref();
    fabric.handle(RebalanceRequest.HOLDINGS, (payload, from) => this.onHoldings(from, payload));
    fabric.handle(RebalanceRequest.CHUNK, (payload, from) => this.onChunk(from, payload));
    fabric.handle(RebalanceRequest.FILL_EMPTY, (payload) => this.onFillEmpty(payload));
    fabric.handle(RebalanceRequest.DELTA_PROBE, (payload, from) => this.onProbe(payload, from));
    fabric.handle(RebalanceRequest.DELTA_SUMMARY, (payload) => this.onSummary(payload));
  }

  /**
   * A replica write for `pid` arrived: should it be stored? Not while this node deletes its copy
   * of `pid` (or until its ownership reflects the drop), nor when its ownership says it is no
   * write target of `pid`: the succession holds the partition complete, and a record stored here
   * would be an orphan outside every holding. Otherwise yes, and if this node holds nothing of
   * `pid` yet, its copy is now partial (a fill in progress), merged or dropped like any other.
   */
  noteReplicaData(nsName: string, pid: number): boolean {
    const st = this.ns.get(nsName);
    if (!st) return true;
    const key = `${nsName}/${pid}`;
    if (this.dropping.has(key)) return false;
    if (st.own && !st.own.writeTargets(pid).includes(this.selfId)) return false;
    this.touched.add(key);
    if (!holdsPartition(st.self, pid)) this.change(nsName, { kind: "fill-started", pids: [pid] });
    return true;
  }

  /** A new cluster was installed (called after ClusterState.install). */
  install(c: InstalledClusterInfo): void {
    const previousKey = this.clusterKey;
    this.clusterKey = c.clusterKey;
    this.roster.seen(this.cluster.members, Date.now());
    this.completed.clear();
    this.touched.clear();
    const diverged = this.resync.diverged();
    for (const [name, st] of this.ns) {
      st.self = nextHoldings(st.self, { kind: "cluster-entered", previousClusterKey: previousKey, lastOwnership: st.own });
      // Copies that may hold writes another copy in line missed: merged in this cluster.
      const pids = diverged.get(name);
      if (pids) st.self = nextHoldings(st.self, { kind: "diverged", pids });
      st.own = null;
      st.plan = [];
      st.announced = new Map([[this.selfId, st.self]]);
      this.cluster.setOwnership(name, null);
    }
    const early = this.early.get(c.clusterKey) ?? [];
    this.early.clear();
    for (const e of early) this.onHoldings(e.from, e.payload);
    this.resync.clusterChanged();
    const ck = c.clusterKey;
    this.entering = ck;
    this.installedAtMs = Date.now();
    this.ownershipLogged = false;
    this.dropsHeldSinceMs = 0; // a cluster change starts its own hold (holdDrops)
    void this.releaseEmptyCopies(ck).catch((err) => this.log.warn({ err }, "releasing empty copies failed")).finally(() => {
      if (this.clusterKey !== ck || this.closed) return;
      this.entering = null;
      this.log.debug({ clusterKey: ck, ms: Date.now() - this.installedAtMs }, "holdings announced");
      for (const name of this.ns.keys()) this.announce(name);
      for (const name of this.ns.keys()) this.recompute(name);
    });
  }

  /**
   * On entering a cluster, copies without a record are let go before holdings are announced. An
   * empty copy carries nothing to merge or serve, but announced as full it would compete with
   * real copies: a node that started alone claims every partition empty (genesis) and, on
   * joining, could become acting master of partitions it has no record of. Writes made before
   * the change are flushed first so that "empty" is what is on disk; partitions a replica write
   * reached since the change are kept.
   */
  private async releaseEmptyCopies(ck: string): Promise<void> {
    await Promise.all([...this.namespaces.values()].map((n) => n.store.flushed()));
    if (this.clusterKey !== ck) return;
    for (const [name, st] of this.ns) {
      const held = this.namespaces.get(name)!.store.partitionsHeld();
      const empty: number[] = [];
      for (let pid = 0; pid < PARTITION_COUNT; pid++) {
        if (!holdsPartition(st.self, pid)) continue;
        if (this.touched.has(`${name}/${pid}`) || this.dropping.has(`${name}/${pid}`) || held[pid] === 1) continue;
        empty.push(pid);
      }
      if (empty.length === 0) continue;
      st.self = nextHoldings(st.self, { kind: "dropped", pids: empty });
      st.announced.set(this.selfId, st.self);
    }
  }

  /** The current ownership of a namespace; null until every member announced its holdings. */
  ownership(nsName: string): Ownership | null {
    return this.ns.get(nsName)?.own ?? null;
  }

  /** Recent members not in the cluster now (see roster.ts); tombstones wait while any is away. */
  absentMembers(): string[] {
    return this.roster.absent(this.cluster.members, Date.now()).map(([id]) => id);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.rateTimer);
    clearTimeout(this.quietTimer);
    this.resync.close();
  }

  /**
   * A replica write of `pid` to `target` failed after the write was stored here: that copy is
   * synced from this one (resync.ts), or, if the cluster changes first, this copy merges.
   */
  noteReplicaFailed(nsName: string, pid: number, target: string): void {
    if (this.ns.has(nsName)) this.resync.noteFailed(nsName, pid, target);
  }

  /** Counters for `statistics` and metrics, Aerospike-style names. */
  counters(): Record<string, number> {
    const m = this.stats;
    return {
      migrate_partitions_remaining: m.remaining,
      migrate_partitions_in_progress: m.inProgress,
      migrate_moves_done: m.movesDone,
      migrate_moves_failed: m.movesFailed,
      migrate_records_sent: m.recordsOut,
      migrate_bytes_sent: m.bytesOut,
      migrate_records_received: m.recordsIn,
      migrate_bytes_received: m.bytesIn,
      migrate_partitions_dropped: m.partitionsDropped,
      migrate_records_skipped: m.recordsSkipped,
      migrate_delta_bytes: m.deltaBytes,
      migrate_chunk_retries: m.chunkRetries,
      migrate_moves_deferred: m.movesDeferred,
      migrate_resyncs_done: this.resync.done,
      migrate_resyncs_failed: this.resync.failed,
      migrate_resyncs_pending: this.resync.pending,
      absent_members: this.absentMembers().length,
      migrate_records_sent_per_sec: m.recordsOutPerSec,
      migrate_bytes_sent_per_sec: m.bytesOutPerSec,
      migrate_records_received_per_sec: m.recordsInPerSec,
      migrate_bytes_received_per_sec: m.bytesInPerSec,
    };
  }

  /** What /v1/cluster shows. */
  snapshot(): Record<string, unknown> {
    return {
      ...this.counters(),
      namespaces: Object.fromEntries([...this.ns].map(([name, st]) => [name, st.own?.summary ?? null])),
    };
  }

  // ── holdings ─────────────────────────────────────────────────────────────────────────────

  private announce(nsName: string): void {
    const st = this.ns.get(nsName)!;
    const payload = { ck: this.clusterKey, ns: nsName, h: st.self, ab: this.roster.absent(this.cluster.members, Date.now()) };
    for (const m of this.cluster.members) if (m !== this.selfId) this.fabric.send(m, RebalanceRequest.HOLDINGS, payload);
  }

  /**
   * Applies a holdings event; the announcement and the recomputation happen once per event-loop
   * turn however many moves completed in it (each recomputation costs a few ms at 4096 partitions),
   * and while a rebalance runs at most once per RECOMPUTE_GAP_MS.
   */
  private change(nsName: string, event: HoldingsEvent): void {
    const st = this.ns.get(nsName)!;
    st.self = nextHoldings(st.self, event);
    st.announced.set(this.selfId, st.self);
    this.dirty.add(nsName);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const flush = () => {
      this.flushScheduled = false;
      if (this.entering !== null || this.closed) return; // entering announces everything once done
      this.lastFlushMs = Date.now();
      const names = [...this.dirty];
      this.dirty.clear();
      for (const name of names) this.announce(name);
      for (const name of names) this.recompute(name);
    };
    const wait = this.rebalancing ? this.lastFlushMs + RECOMPUTE_GAP_MS - Date.now() : 0;
    if (wait > 0) setTimeout(flush, wait).unref();
    else setImmediate(flush);
  }

  private lastFlushMs = 0;
  /** When the current cluster was installed, and whether its first ownership was logged. */
  private installedAtMs = 0;
  private ownershipLogged = false;

  private onHoldings(from: string, payload: unknown): null {
    const p = payload as { ck?: string; ns?: string; h?: Holdings; ab?: unknown };
    if (typeof p?.ck !== "string" || typeof p.ns !== "string" || !p.h) return null;
    if (p.ck !== this.clusterKey) {
      if (this.early.size < 8 || this.early.has(p.ck)) this.early.set(p.ck, [...(this.early.get(p.ck) ?? []), { from, payload }].slice(-256));
      return null;
    }
    const st = this.ns.get(p.ns);
    if (!st || !this.cluster.members.includes(from)) return null;
    st.announced.set(from, parseHoldings(from, p.h));
    this.roster.merge(p.ab, this.cluster.members, Date.now());
    this.recompute(p.ns);
    return null;
  }

  private readonly recomputeWanted = new Set<string>();
  private recomputeTimer: NodeJS.Timeout | undefined;

  /**
   * Asks for a recomputation. Recomputing costs a few ms (ownership and plan over 4096
   * partitions, more on a busy node), and during a rebalance holdings change with every finished
   * move on every node, so requests are coalesced: one recomputation RECOMPUTE_DELAY_MS after
   * a quiet spell, then at most one per RECOMPUTE_GAP_MS while a rebalance runs (per
   * RECOMPUTE_GAP_BUSY_MS while this node has moves in hand it has not started; and never more
   * often than RECOMPUTE_GAP_PER_COST times the last one's duration). A finished
   * move does not wait for it: the next move starts at once from the plan in hand.
   */
  private recompute(nsName: string): void {
    this.recomputeWanted.add(nsName);
    if (this.recomputeTimer || this.closed) return;
    const least = Math.max(this.workInHand() ? RECOMPUTE_GAP_BUSY_MS : RECOMPUTE_GAP_MS, Math.min(RECOMPUTE_GAP_COST_MAX_MS, RECOMPUTE_GAP_PER_COST * this.lastRecomputeCostMs));
    const gap = this.rebalancing ? this.lastRecomputeMs + least - Date.now() : 0;
    this.recomputeTimer = setTimeout(() => {
      this.recomputeTimer = undefined;
      this.lastRecomputeMs = Date.now();
      const names = [...this.recomputeWanted];
      this.recomputeWanted.clear();
      for (const name of names) this.recomputeNow(name);
      this.lastRecomputeCostMs = Date.now() - this.lastRecomputeMs;
    }, Math.max(RECOMPUTE_DELAY_MS, gap));
  }

  private lastRecomputeMs = 0;
  /** How long the last recomputation took (every namespace asked for), in ms. */
  private lastRecomputeCostMs = 0;

  /** Planned moves not started yet (plans keep their moves until they finish). */
  private workInHand(): boolean {
    let planned = 0;
    for (const st of this.ns.values()) planned += st.plan.length;
    return planned > this.inFlight.size;
  }

  /** With every member's holdings: ownership → routing, genesis, drops, plan, moves. */
  private recomputeNow(nsName: string): void {
    if (this.closed || this.entering !== null) return;
    const st = this.ns.get(nsName)!;
    const ns = this.namespaces.get(nsName)!;
    // Every member's holdings first: the map is computed on first use (ClusterState.install), and
    // on a joining node, cold, that took ~190 ms right after its announcement, which sat unsent
    // meanwhile (its connections not yet up) while every member waited for it.
    if (!this.cluster.members.every((m) => st.announced.has(m))) return;
    const map = this.cluster.mapFor(ns);
    if (!map) return;
    const own = computeOwnership(map, st.announced);
    if (!this.ownershipLogged) {
      this.ownershipLogged = true;
      // The time clients wait after a cluster change: until every member announced its holdings.
      this.log.debug({ clusterKey: this.clusterKey, ms: Date.now() - this.installedAtMs }, "first ownership computed");
    }
    const genesis: number[] = [];
    for (let pid = 0; pid < PARTITION_COUNT; pid++) if (own.genesis(pid) && own.actingMaster(pid) === this.selfId) genesis.push(pid);
    if (genesis.length > 0) return this.change(nsName, { kind: "genesis-claimed", pids: genesis });
    st.own = own;
    this.cluster.setOwnership(nsName, own);
    const plan = planMigrations(own, map, st.announced, this.selfId)
      .map((m) => ({ ...m, key: `${nsName}/${moveKey(m)}` }))
      .filter((m) => !this.completed.has(m.key));
    st.plan = this.completeEmptyMoves(nsName, ns, plan);
    // A copy still owed to another (resync.ts) stays until the sync is done.
    const drops = own.partitionsToDrop(this.selfId).filter((pid) => !this.dropping.has(`${nsName}/${pid}`) && !this.resync.owes(nsName, pid));
    if (drops.length > 0 && !this.holdDrops()) this.drop(nsName, drops).catch((err) => this.log.warn({ err: (err as Error).message }, "dropping partition copies failed"));
    this.schedule();
  }

  /** When drops began to wait (0: none waits). */
  private dropsHeldSinceMs = 0;
  /** Whether `schedule` last saw this node with moves out planned or in flight. */
  private hadMovesOut = false;

  /**
   * Whether drops wait: while this node has moves out planned or in flight, or the ownership of
   * some namespace is not complete yet (a succession node still filling or merging, wherever),
   * for at most DROP_HOLD_MAX_MS. Deleting the copies given away took ~35% of each sender's CPU in
   * a 1M-record join (every old node both sends and drops), competing with the moves for the
   * CPU and the disk. The copies wait in full, announced and kept current (they are write targets
   * until dropped). `schedule` recomputes once this node's moves are done, every node once the
   * last fill completes (its holdings change), a timer once the hold expires.
   */
  private holdDrops(): boolean {
    const settled = (st: NsState) => st.plan.length === 0 && (!st.own || (st.own.summary.complete === PARTITION_COUNT && st.own.summary.merging === 0));
    if (this.inFlight.size === 0 && [...this.ns.values()].every(settled)) {
      this.dropsHeldSinceMs = 0;
      return false;
    }
    const now = Date.now();
    if (this.dropsHeldSinceMs === 0) {
      this.dropsHeldSinceMs = now;
      setTimeout(() => this.recomputeAll(), DROP_HOLD_MAX_MS).unref();
    }
    return now - this.dropsHeldSinceMs < DROP_HOLD_MAX_MS;
  }

  private recomputeAll(): void {
    for (const name of this.ns.keys()) this.recompute(name);
  }

  /** Partitions whose records are being deleted here (`ns/pid`). */
  private readonly dropping = new Set<string>();
  /** Partitions a replica write reached since the last cluster change (`ns/pid`). */
  private readonly touched = new Set<string>();
  /** The cluster being entered: holdings are not announced nor ownership computed until set null. */
  private entering: string | null = null;

  /**
   * Lets go of copies the ownership says may go: first the holdings (announced at once, so the
   * masters stop sending replica writes and nobody counts on this copy), then the records. Replica
   * writes are refused while the records go, incoming moves deferred, so the records go by key,
   * whatever their version.
   */
  private async drop(nsName: string, pids: number[]): Promise<void> {
    const ns = this.namespaces.get(nsName)!;
    for (const pid of pids) this.dropping.add(`${nsName}/${pid}`);
    this.stats.partitionsDropped += pids.length;
    this.log.debug({ ns: nsName, partitions: pids.length, movesOut: this.inFlight.size, heldMs: this.dropsHeldSinceMs === 0 ? 0 : Date.now() - this.dropsHeldSinceMs }, "dropping partition copies");
    this.change(nsName, { kind: "dropped", pids });
    try {
      // Removals go in transactions of at most DROP_BATCH_RECORDS records per partition, a few
      // partitions per commit, the loop yielding between them. Nothing writes here meanwhile;
      // a write queued before is committed first (every removal transaction follows it).
      const pending = [...pids];
      while (pending.length > 0 && !this.closed) {
        const group = pending.splice(0, DROP_PARTITIONS_PER_COMMIT);
        const removed = await Promise.all(group.map((pid) => ns.store.removePartition(pid, DROP_BATCH_RECORDS)));
        group.forEach((pid, i) => {
          if (removed[i] === DROP_BATCH_RECORDS) pending.push(pid);
        });
      }
    } finally {
      // Replica writes from a master that has not yet seen the drop announced may still come; a
      // write target accepts them (noteReplicaData: a partial copy again, dropped again later).
      for (const pid of pids) this.dropping.delete(`${nsName}/${pid}`);
      this.recompute(nsName);
    }
  }

  // ── moves out ────────────────────────────────────────────────────────────────────────────

  private schedule(): void {
    if (this.closed) return;
    let remaining = 0;
    for (const [nsName, st] of this.ns) {
      if (!st.own) continue;
      const plan = st.plan;
      remaining += plan.length;
      const mine = [...this.inFlight.values()].filter((m) => m.ns === nsName);
      const perTarget = new Map<string, number>();
      for (const m of this.inFlight.values()) perTarget.set(m.to, (perTarget.get(m.to) ?? 0) + 1);
      const inFlight = { out: new Set(mine.map(moveKey)), perTargetCount: perTarget };
      const room = { outMax: Math.max(1, this.limits.outMax - (this.inFlight.size - mine.length)), inMax: this.limits.inMax };
      if (this.inFlight.size >= this.limits.outMax) continue;
      for (const move of nextMoves(plan, inFlight, room)) this.start(nsName, move);
    }
    this.stats.remaining = Math.max(0, remaining - this.inFlight.size);
    this.stats.inProgress = this.inFlight.size;
    // Held drops are looked at again when this node's last move out is done (holdDrops decides;
    // once per such end: while only other nodes' moves run, the holdings they announce bring the
    // recomputations, and the hold's own timer bounds it).
    const movesOut = remaining > 0 || this.inFlight.size > 0;
    if (this.hadMovesOut && !movesOut && this.dropsHeldSinceMs !== 0) this.recomputeAll();
    this.hadMovesOut = movesOut;
    this.trackRebalance(remaining);
  }

  /**
   * Moves of partitions this node holds no record of need no stream: a merge of an empty copy adds
   * nothing, and a fill from an empty master is complete at once (later writes reach the target
   * as a write target anyway). They are settled in bulk, one message per target, which makes a
   * cold start of fresh nodes, where every partition is empty, immediate. Returns the rest.
   */
  private completeEmptyMoves(nsName: string, ns: Namespace, plan: PlannedMove[]): PlannedMove[] {
    const rest: PlannedMove[] = [];
    const merges: number[] = [];
    const fills = new Map<string, number[]>();
    const held = ns.store.partitionsHeld();
    for (const move of plan) {
      if (this.inFlight.has(move.key) || held[move.pid] === 1) {
        rest.push(move);
        continue;
      }
      if (move.kind === MoveKind.MERGE) merges.push(move.pid);
      else {
        const pids = fills.get(move.to);
        if (pids) pids.push(move.pid);
        else fills.set(move.to, [move.pid]);
      }
    }
    if (merges.length > 0) {
      this.stats.movesDone += merges.length;
      this.change(nsName, { kind: "merge-completed", pids: merges });
    }
    const ck = this.clusterKey;
    for (const [to, pids] of fills) {
      const keys = pids.map((pid) => `${nsName}/${moveKey({ pid, from: this.selfId, to, kind: MoveKind.FILL })}`);
      for (const [i, k] of keys.entries()) this.inFlight.set(k, { pid: pids[i]!, from: this.selfId, to, kind: MoveKind.FILL, ns: nsName });
      this.fabric.request(to, RebalanceRequest.FILL_EMPTY, { ck, ns: nsName, pids }, 30_000).then(
        () => {
          this.stats.movesDone += pids.length;
          if (ck !== this.clusterKey) return;
          for (const k of keys) this.completed.add(k);
          const done = new Set(keys);
          const st = this.ns.get(nsName)!;
          st.plan = st.plan.filter((m) => !done.has(m.key)); // replanned meanwhile, while in flight
        },
        (err) => {
          this.stats.movesFailed += pids.length;
          this.log.debug({ to, err: (err as Error).message }, "bulk empty fill failed; will retry");
        },
      ).finally(() => {
        for (const k of keys) this.inFlight.delete(k);
        if (ck === this.clusterKey) setTimeout(() => this.schedule(), 50).unref();
      });
    }
    return rest;
  }

  private onFillEmpty(payload: unknown): boolean {
    const p = payload as { ck?: string; ns?: string; pids?: unknown };
    if (p.ck !== this.clusterKey) throw new KvError(ResultCode.CLUSTER_KEY_MISMATCH, "fill for another cluster");
    if (typeof p.ns !== "string" || !this.ns.has(p.ns) || !Array.isArray(p.pids)) throw new KvError(ResultCode.PARAMETER, "malformed fill");
    const pids = p.pids.filter((x): x is number => Number.isInteger(x) && x >= 0 && x < PARTITION_COUNT);
    this.change(p.ns, { kind: "fill-completed", pids });
    return true;
  }

  /**
   * Logs a rebalance's start and, once this node has had nothing to send for REBALANCE_QUIET_MS
   * (plans empty out between a move's end and the next recomputation), its end with totals:
   * records and bytes sent and received here, moves made.
   */
  private trackRebalance(remaining: number): void {
    this.pruneIntake(Date.now());
    const busy = remaining > 0 || this.inFlight.size > 0 || this.intake.size > 0;
    if (busy) {
      this.idleSinceMs = 0;
      clearTimeout(this.quietTimer);
      this.quietTimer = undefined;
      if (this.rebalancing) return;
      this.rebalancing = true;
      const m = this.stats;
      this.rebalanceStart = { ms: Date.now(), recordsOut: m.recordsOut, bytesOut: m.bytesOut, recordsIn: m.recordsIn, bytesIn: m.bytesIn, moves: m.movesDone };
      this.log.info({ clusterKey: this.clusterKey, moves: remaining }, "rebalance started");
      return;
    }
    if (!this.rebalancing || this.quietTimer) return;
    this.idleSinceMs = Date.now();
    this.quietTimer = setTimeout(() => {
      this.quietTimer = undefined;
      if (!this.rebalancing || this.idleSinceMs === 0) return;
      this.rebalancing = false;
      const s = this.rebalanceStart;
      const m = this.stats;
      this.log.info({
        clusterKey: this.clusterKey, ms: this.idleSinceMs - s.ms, moves: m.movesDone - s.moves,
        recordsOut: m.recordsOut - s.recordsOut, bytesOut: m.bytesOut - s.bytesOut,
        recordsIn: m.recordsIn - s.recordsIn, bytesIn: m.bytesIn - s.bytesIn,
      }, "rebalance finished");
    }, REBALANCE_QUIET_MS);
    this.quietTimer.unref();
  }

  private start(nsName: string, move: PlannedMove): void {
    const key = move.key;
    this.inFlight.set(key, { pid: move.pid, from: move.from, to: move.to, kind: move.kind, ns: nsName });
    const ck = this.clusterKey!;
    this.stream(nsName, move, ck).then(
      () => {
        this.inFlight.delete(key);
        this.stats.movesDone++;
        if (ck !== this.clusterKey) return;
        this.completed.add(key);
        const st = this.ns.get(nsName)!;
        const at = st.plan.findIndex((m) => m.key === key); // the plan may have been recomputed since
        if (at >= 0) st.plan.splice(at, 1);
        if (move.kind === MoveKind.MERGE) {
          // A copy filled in this cluster meanwhile (the acting master changed during the merge)
          // is current: marking it handed over would demote a full copy that no plan refills.
          if (!hasPartition(st.self.current, move.pid)) this.change(nsName, { kind: "merge-completed", pids: [move.pid] });
        }
        // The next move starts from the plan in hand, merges too: waiting for the recomputation
        // held each of a restarted node's thousands of merges for up to a recompute gap.
        this.schedule();
      },
      (err) => {
        this.inFlight.delete(key);
        if (err instanceof KvError && err.code === ResultCode.DEVICE_OVERLOAD) this.stats.movesDeferred++;
        else this.stats.movesFailed++;
        this.log.debug({ move, err: (err as Error).message }, "migration move failed; will retry");
        if (ck === this.clusterKey) setTimeout(() => this.schedule(), 200).unref();
      },
    );
  }

  /**
   * Streams one partition to the move's target, one acknowledged chunk at a time, sending only
   * what the target lacks (server/core/partition-delta.ts). A chunk that meets a retryable fabric
   * error is sent again (applying a chunk twice is harmless: records merge by version); a move
   * that still fails is planned again and resumes, since the buckets delivered already match.
   */
  private async stream(nsName: string, move: StreamMove, ck: string): Promise<void> {
    const ns = this.namespaces.get(nsName)!;
    await this.turns.next();
    const delta = await this.deltaOf(ns, move, ck);
    let entries: EncodedEntry[] = [];
    let bytes = 0;
    let first = true;
    const send = async (last: boolean) => {
      const payload: ChunkPayload = { ck, ns: nsName, pid: move.pid, kind: move.kind, first, last, b: encodeChunk(entries), n: entries.length };
      for (let attempt = 1; ; attempt++) {
        if (ck !== this.clusterKey || this.closed) throw new KvError(ResultCode.CLUSTER_KEY_MISMATCH, "cluster changed during the move");
        try {
          await this.fabric.request(move.to, RebalanceRequest.CHUNK, payload, 30_000, "bulk");
          break;
        } catch (err) {
          if (attempt >= CHUNK_ATTEMPTS || !(err instanceof KvError) || !isRetryableResult(err.code)) throw err;
          this.stats.chunkRetries++;
          await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      }
      this.stats.recordsOut += entries.length;
      this.stats.bytesOut += bytes;
      first = false;
      entries = [];
      bytes = 0;
      await this.turns.next(); // heartbeats and clients get through between any two chunk reads
    };
    if (typeof delta === "number") {
      // The copies are equal: nothing to read or send but the last (empty) chunk.
      this.stats.recordsSkipped += delta;
      return send(true);
    }
    for (const e of ns.store.partitionEncoded(move.pid)) {
      if (delta && !delta(e.digest, e)) {
        this.stats.recordsSkipped++;
        continue;
      }
      entries.push(e);
      bytes += chunkEntryBytes(e);
      if (entries.length >= CHUNK_RECORDS_MAX || bytes >= CHUNK_BYTES_MAX) await send(false);
    }
    await send(true);
  }

  /** Chunks being stored here (CHUNK_STORES_MAX). */
  private readonly chunkStores = new Gate(CHUNK_STORES_MAX);
  /** Streams take event-loop turns for their slices of work (turns.ts). */
  private readonly turns = new Turns();

  /**
   * Asks the target what it holds of the partition: undefined when it holds nothing (send all),
   * the number of records when its copy equals this one (send none), else a filter passing only
   * records it lacks or holds at an older version.
   */
  private async deltaOf(ns: Namespace, move: StreamMove, ck: string): Promise<((digest: Buffer, v: Version) => boolean) | number | undefined> {
    // A target that announced no copy of the partition (a joining node) is sent everything
    // without asking: a round trip less per move. Should it hold a few records after all (replica
    // writes since its announcement), the records merge by version as always.
    const theirs = this.ns.get(ns.name)?.announced.get(move.to);
    if (theirs && !holdsPartition(theirs, move.pid)) return undefined;
    const probe = (await this.fabric.request(move.to, RebalanceRequest.DELTA_PROBE, { ck, ns: ns.name, pid: move.pid, kind: move.kind }, 30_000, "bulk")) as
      { n?: unknown; nb?: unknown; h?: unknown };
    if (typeof probe?.n !== "number" || probe.n === 0) return undefined;
    const nb = probe.nb as number;
    const theirSums = probe.h instanceof Uint8Array ? probe.h : new Uint8Array(0);
    this.countDeltaBytes(theirSums.byteLength);
    // Replies of many moves arrive in one read: the partition scans take turns (turns.ts).
    await this.turns.next();
    const mine = new BucketSums(nb);
    for (const e of ns.store.partitionEncoded(move.pid)) mine.add(e.digest, e);
    const differing = mine.differing(theirSums);
    if (differing.length === 0) return probe.n;
    const summary = (await this.fabric.request(move.to, RebalanceRequest.DELTA_SUMMARY, { ck, ns: ns.name, pid: move.pid, nb, b: differing }, 30_000, "bulk")) as
      { v?: unknown; overflow?: unknown };
    const versions = summary?.v instanceof Uint8Array ? summary.v : new Uint8Array(0);
    this.countDeltaBytes(versions.byteLength + differing.length * 2);
    await this.turns.next();
    return deltaFilter(nb, differing, summary?.overflow === true ? new Map() : decodeVersions(versions));
  }

  /** Delta bookkeeping is part of what a move costs: counted in bytesOut too. */
  private countDeltaBytes(n: number): void {
    this.stats.deltaBytes += n;
    this.stats.bytesOut += n;
  }

  private checkMoveRequest(payload: unknown): { ns: Namespace; pid: number } {
    const p = payload as { ck?: unknown; ns?: unknown; pid?: unknown };
    if (p?.ck !== this.clusterKey) throw new KvError(ResultCode.CLUSTER_KEY_MISMATCH, "migration request for another cluster");
    const ns = typeof p.ns === "string" ? this.namespaces.get(p.ns) : undefined;
    const pid = p.pid;
    if (!ns || typeof pid !== "number" || !Number.isInteger(pid) || pid < 0 || pid >= PARTITION_COUNT) {
      throw new KvError(ResultCode.PARAMETER, "malformed migration request");
    }
    return { ns, pid };
  }

  /** Delta step 1 on the receiver: how many records it holds of the partition, and their sums. */
  private onProbe(payload: unknown, from: string): { n: number; nb: number; h?: Buffer } {
    const { ns, pid } = this.checkMoveRequest(payload);
    if (this.dropping.has(`${ns.name}/${pid}`)) throw new KvError(ResultCode.DEVICE_OVERLOAD, "partition copy being dropped here; try later");
    this.admit(`${from}/${ns.name}/${(payload as { kind?: unknown }).kind}:${pid}`);
    const entries: Array<{ digest: Buffer; version: Version }> = [];
    for (const e of ns.store.partitionEncoded(pid)) entries.push({ digest: e.digest, version: e });
    if (entries.length === 0) return { n: 0, nb: 1 };
    const sums = new BucketSums(bucketCount(entries.length));
    for (const e of entries) sums.add(e.digest, e.version);
    return { n: entries.length, nb: sums.nb, h: sums.toBuffer() };
  }

  /** Delta step 2 on the receiver: its versions in the requested buckets. */
  private onSummary(payload: unknown): { v?: Buffer; overflow?: true } {
    const { ns, pid } = this.checkMoveRequest(payload);
    const p = payload as { nb?: unknown; b?: unknown };
    const nb = p.nb;
    if (typeof nb !== "number" || !Number.isInteger(nb) || nb < 1 || (nb & (nb - 1)) !== 0 || !Array.isArray(p.b)) {
      throw new KvError(ResultCode.PARAMETER, "malformed migration summary request");
    }
    const want = new Uint8Array(nb);
    for (const b of p.b) if (Number.isInteger(b) && b >= 0 && b < nb) want[b] = 1;
    const out: Array<{ digest: Buffer; version: Version }> = [];
    for (const e of ns.store.partitionEncoded(pid)) {
      if (!want[bucketOf(e.digest, nb)]) continue;
      if (out.length >= SUMMARY_VERSIONS_MAX) return { overflow: true };
      out.push({ digest: e.digest, version: e });
    }
    return { v: encodeVersions(out) };
  }

  // ── moves in ─────────────────────────────────────────────────────────────────────────────

  private async onChunk(from: string, payload: unknown): Promise<boolean> {
    const p = payload as Partial<ChunkPayload>;
    const { ns, pid } = this.checkMoveRequest(payload);
    const st = this.ns.get(ns.name)!;
    const merge = p.kind === MoveKind.MERGE;
    const sync = p.kind === SYNC;
    if (this.dropping.has(`${ns.name}/${pid}`)) throw new KvError(ResultCode.DEVICE_OVERLOAD, "partition copy being dropped here; try later");
    const intakeKey = `${from}/${ns.name}/${p.kind}:${pid}`;
    if (p.first) this.admit(intakeKey);
    this.intake.set(intakeKey, Date.now());
    if (p.last) this.intake.delete(intakeKey);
    if (!merge && !sync && p.first) {
      st.self = nextHoldings(st.self, { kind: "fill-started", pids: [pid] });
      st.announced.set(this.selfId, st.self);
    }
    // A resync is taken like a replica write: moot (acked, not stored) where this node no longer
    // keeps a copy, and records of a partition it holds nothing of make its copy partial (else
    // they would sit outside every holding and never be dropped).
    const announced = typeof p.n === "number" ? p.n : -1; // checked by parseChunk
    if (sync && announced > 0 && !this.noteReplicaData(ns.name, pid)) return true;
    let records: IncomingRecord[] = [];
    if (announced === 0) parseChunk(p.b, p.n, pid); // an empty chunk is checked at once (cheap)
    else {
      // At most CHUNK_STORES_MAX chunks are parsed and stored at once; the rest wait here, outside
      // LMDB's write queue (gate.ts): what is queued commits as one batch, and a replica write
      // queued behind dozens of chunks waited for all of them. Parsed only when its turn comes:
      // the first chunks of 48 moves arrive together, and parsing them all on arrival (~6 ms
      // each) held a just-started node's event loop for ~300 ms while replica writes to it
      // waited (their masters' key locks with them). The chunk is applied in one LMDB write
      // transaction, acked when durable. Merges and syncs go to the acting master, which serves
      // writes: they hold the chunk's key locks, so a client write's read-modify-write orders
      // wholly before or after them. A fill goes to a copy that serves no write: nothing but
      // replica writes and other chunks, all compare-and-put inside the transaction
      // (putIfNewer), touches these keys here, so it takes no lock: that cost 0.8-1.2 µs per
      // record (3-5% of the receiver's busy time in profiled joins), and a replica write to one
      // of its keys waited for the chunk's commit. Its transaction checks that the cluster is
      // still the chunk's, so a later cluster, where this copy might serve, never sees it
      // straddle a write.
      const stored = await this.chunkStores.run(() => {
        records = parseChunk(p.b, p.n, pid);
        if (records.length === 0) return Promise.resolve([]);
        // Only while this node is not the partition's acting master (a fill's target never is,
        // within the fill's cluster; asked anyway, as the lock is cheap next to a wrong answer).
        const lockFree = !merge && !sync && st.own !== null && st.own.actingMaster(pid) !== this.selfId;
        const issue = async (): Promise<boolean[] | typeof MOOT> => {
          // Checked again here, right before the store is issued, since the chunk may have
          // waited: a cluster change (its holdings may have let this copy go as empty) or a drop
          // meanwhile would leave the records outside every holding. Once issued, a later drop
          // or flush orders after them.
          if (p.ck !== this.clusterKey) throw new KvError(ResultCode.CLUSTER_KEY_MISMATCH, "cluster changed while the chunk waited");
          // A sync is moot (acked, not stored) where this copy is no longer kept, as above.
          if (sync && !this.noteReplicaData(ns.name, pid)) return MOOT;
          if (this.dropping.has(`${ns.name}/${pid}`)) throw new KvError(ResultCode.DEVICE_OVERLOAD, "partition copy being dropped here; try later");
          if (!holdsPartition(st.self, pid)) {
            throw new KvError(ResultCode.DEVICE_OVERLOAD, "partition copy no longer held here; try later");
          }
          if (!lockFree) return ns.store.putIfNewer(records);
          return ns.store.putIfNewer(records, () => p.ck === this.clusterKey).then((done) => {
            if (done === null) throw new KvError(ResultCode.CLUSTER_KEY_MISMATCH, "cluster changed before the chunk was stored");
            return done;
          });
        };
        if (lockFree) return issue();
        return this.tx.locks.runAll(records.map((r) => lockKey(ns.name, r.digest)), issue);
      });
      if (stored === MOOT) return true;
      this.stats.recordsIn += records.length;
      for (const r of records) this.stats.bytesIn += chunkEntryBytes(r);
      // The acting master applies merged records like writes: the other copies get them too. So
      // does the receiver of a sync (it may be a later cluster's acting master that filled other
      // copies before the sync arrived).
      if (merge || sync) {
        await Promise.all(records.map((r, i) => (stored[i] ? this.replicate(ns, pid, r.digest, decodeRecord(r.value), from) : undefined)));
      }
    }
    if (p.last && !merge && !sync && p.ck === this.clusterKey) this.change(ns.name, { kind: "fill-completed", pids: [pid] });
    return true;
  }

  /**
   * Admits an incoming move, or refuses it with DEVICE_OVERLOAD when `intakeMax` others are
   * streaming in (the sender plans it again shortly). Moves silent for INTAKE_IDLE_MS (their
   * sender failed or left) no longer count.
   */
  private admit(key: string): void {
    const now = Date.now();
    if (this.intake.has(key)) return void this.intake.set(key, now);
    this.pruneIntake(now);
    if (this.intake.size >= this.intakeMax) throw new KvError(ResultCode.DEVICE_OVERLOAD, `migration intake full (${this.intakeMax} moves)`);
    this.intake.set(key, now);
    this.trackRebalance(this.stats.remaining);
  }

  private pruneIntake(now: number): void {
    for (const [k, at] of this.intake) if (now - at > INTAKE_IDLE_MS) this.intake.delete(k);
  }

  private async replicate(ns: Namespace, pid: number, digest: Buffer, record: StoredRecord, except: string): Promise<void> {
    const targets = this.cluster.route(ns, pid).targets.filter((t) => t !== this.selfId && t !== except);
    const payload: ReplicaWrite = { ns: ns.name, d: digest, r: record };
    await Promise.all(targets.map((t) => this.fabric.request(t, FabricRequest.REPLICA_WRITE, payload).catch(() => this.noteReplicaFailed(ns.name, pid, t))));
  }
}

/** Partitions with at least one record in the store (a booted node's disk data). */
function partitionsOnDisk(ns: Namespace): Uint8Array {
  const held = ns.store.partitionsHeld();
  const pids: number[] = [];
  for (let pid = 0; pid < PARTITION_COUNT; pid++) if (held[pid] === 1) pids.push(pid);
  return partitionBitmapOf(pids);
}

function parseHoldings(from: string, h: Holdings): Holdings {
  const bits = (b: unknown) => (b instanceof Uint8Array && b.length === PARTITION_BITMAP_BYTES ? Uint8Array.from(b) : undefined);
  const full = bits(h.full);
  if (!full) throw new KvError(ResultCode.PARAMETER, "malformed holdings");
  return {
    node: from,
    lastClusterKey: typeof h.lastClusterKey === "string" ? h.lastClusterKey : null,
    full,
    ...(bits(h.partial) ? { partial: bits(h.partial)! } : {}),
    ...(bits(h.current) ? { current: bits(h.current)! } : {}),
    ...(bits(h.unmerged) ? { unmerged: bits(h.unmerged)! } : {}),
  };
}
