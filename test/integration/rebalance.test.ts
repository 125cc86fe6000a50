/**
 * Goal (issue 4): rebalancing under load. 3 nodes, replication factor 2, 200k records; while our
 * client runs a continuous read/write/delete load: (a) a 4th node joins, (b) one node leaves
 * gracefully, (c) one is killed with kill -9, (d) the killed node restarts on its data dir. After
 * each: no client error that survives the client's retries (for (c): in-doubt writes are counted
 * apart, reads must not fail), no acknowledged write lost, no delete resurrected, every partition
 * claimed by exactly the replication-factor nodes the partition map names, balance within the
 * map's targets; for (d) the bytes migrated are a small fraction of a full copy of what the
 * restarted node holds (the ratio is printed).
 *
 * Method: real processes on 127.0.0.1 (LMDB, default heartbeats). One cluster goes through the
 * phases in order. The load driver has a bounded number of workers, paced to a fixed rate, one
 * operation per key at a time, and keeps a model: per key the latest acknowledged state (the
 * sequence number written, or deleted) and the in-doubt operations (failed writes that may or may
 * not have applied). Every value carries its key and sequence number, so a read tells which write
 * it came from. A read must return the latest acknowledged state, or one an in-doubt operation
 * may have produced. The load pauses after each phase's migrations settled (and the client saw
 * the final map); then every one of the 200k keys is read and checked against the model (a key in
 * doubt takes the state read, if allowed). An anomaly is counted in the phase that shows it, and
 * the state read becomes that key's baseline, so later phases count only their own.
 *
 * "Settled" (polled while the load runs) = every live node reports the expected cluster size and
 * the same cluster key, no migration remaining or in progress, and each node's `replicas` claims
 * are exactly the partition map's successions (index 0 = the map's master, index 1 = its replica),
 * which also gives the map's balance (masters ≤ ceil(4096/N), copies ≤ max(ceil(4096·R/N),
 * floor(1.01·4096·R/N)), checked too). After the load stopped and the model is resolved, each
 * node's `objects` must lie in [records the map gives it, + tombstones it may still hold]
 * (tombstones are reclaimed once old and settled, so their count is not exact). At the end every
 * node is stopped and its LMDB opened: every record must be on exactly the nodes the final map
 * names (a tombstone on a subset of them), copies identical and equal to the model.
 *
 * Ratio for (d): sum over the nodes of migrate_bytes_sent during the phase, over the bytes a full
 * copy of everything on the killed node's disk (read from its LMDB before the restart) would take
 * in migration chunks (`chunkEntryBytes`: the unit the rebalancer counts).
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, Key, KvError, ResultCode } from "../../client/index.js";
import { bitmapHas, parseReplicas } from "../../client/internal.js";
import { computeDigest } from "../../client/protocol/index.js";
import { computePartitionMap } from "../../server/core/partition-map.js";
import { chunkEntryBytes } from "../../server/cluster/migration-chunk.js";
import { encodeRecord } from "../../server/storage/record-codec.js";
import { LmdbEnvironment } from "../../server/storage/lmdb-store.js";
import { computePartitionId } from "./cluster-helpers.js";
import { cleanup, info, NodeProcess, startCluster, startNode, statistics, waitFor, waitForSettled } from "./harness.js";

/** The issue asks for 200k; SHOAL_REBALANCE_RECORDS scales the run down for a quick look. */
const RECORDS = Number(process.env.SHOAL_REBALANCE_RECORDS ?? 200_000);
const RF = 2;
const NS = "test";
const SET = "rb";
const VALUE_BYTES = 100;
const PARTITIONS = 4096;
/** Keys the load writes and deletes (reads go over every key). */
const HOT_KEYS = Math.min(10_000, RECORDS / 10);
/** Between phases, one in this many keys the load does not write is read back (all after the last). */
const COLD_SAMPLE = 10;
const WORKERS = 16;
/** The load's pace, operations per second over all workers. */
const LOAD_OPS_PER_SEC = 1000;
const READ_FRACTION = 0.5;
const WRITE_FRACTION = 0.35; // the rest are deletes
/** Concurrent requests of the initial load and of the verification reads. */
const BULK_CONCURRENCY = 256;
const SETTLE_TIMEOUT_MS = 150_000;
/**
 * Settled must hold this long with no partition-generation or finished-move count changing: right
 * after a cluster change every node answers `replicas` from the bare map (no ownership yet) and
 * reports no migration, for a few hundred ms, which looks settled but is not.
 */
const SETTLED_STABLE_MS = 2000;
const PHASE_TIMEOUT_MS = 400_000;

/**
 * Retries that ride through a cluster change (dead node noticed in 1.5 s, then a holdings round
 * trip). No per-attempt timeout below the total: an attempt is retried only after it failed (an
 * error reply, a closed connection), never while it may still be applied, so a retried write cannot
 * land after the key's next operation.
 */
const RETRY = { maxRetries: 30, totalTimeoutMs: 8000, socketTimeoutMs: 0, sleepBetweenRetriesMs: 100 } as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function valueOf(k: number, seq: number): string {
  const head = `${k}:${seq}:`;
  return head + "x".repeat(VALUE_BYTES - head.length);
}

/** The sequence number a stored value carries; throws if it is not a value of key `k`. */
function seqOf(k: number, v: unknown): number {
  const parts = typeof v === "string" ? v.split(":") : [];
  if (parts.length !== 3 || Number(parts[0]) !== k || !/^\d+$/.test(parts[1]!) || (v as string).length !== VALUE_BYTES) {
    throw new Error(`key ${k}: unexpected value ${JSON.stringify(v)?.slice(0, 60)}`);
  }
  return Number(parts[1]);
}

function key(k: number): Key {
  return new Key(NS, SET, k);
}

const isNotFound = (err: unknown) => err instanceof KvError && err.code === ResultCode.NOT_FOUND;
const describeErr = (err: unknown) => (err instanceof KvError ? `${err.name}(${err.code}${err.inDoubt ? ", in doubt" : ""}): ${err.message}` : String(err));

type Verdict = "ok" | "lost" | "resurrected" | "wrong";

/** Per key: the latest acknowledged state and the in-doubt operations since it was last resolved. */
class Model {
  /** Sequence number of the latest acknowledged write or delete (0: never written). */
  readonly seq = new Int32Array(RECORDS);
  readonly deleted = new Uint8Array(RECORDS);
  readonly doubt = new Map<number, Array<{ seq: number; del: boolean }>>();
  private next = 1;

  nextSeq(): number {
    return this.next++;
  }
  ack(k: number, seq: number, del: boolean): void {
    this.seq[k] = seq;
    this.deleted[k] = del ? 1 : 0;
  }
  addDoubt(k: number, seq: number, del: boolean): void {
    this.doubt.set(k, [...(this.doubt.get(k) ?? []), { seq, del }]);
  }

  /**
   * `got`: the sequence number read, or undefined for not found. OK when it is the acknowledged
   * state or a state an in-doubt operation may have left; else lost (an acknowledged value is
   * missing or older), resurrected (a deleted key shows an older value) or wrong (anything else).
   */
  check(k: number, got: number | undefined): Verdict {
    const del = this.deleted[k] === 1;
    const seq = this.seq[k]!;
    if (got === undefined ? del : !del && got === seq) return "ok";
    const doubts = this.doubt.get(k) ?? [];
    if (doubts.some((d) => (got === undefined ? d.del : !d.del && d.seq === got))) return "ok";
    if (!del) return got === undefined || got < seq ? "lost" : "wrong";
    return got! < seq ? "resurrected" : "wrong";
  }

  /** After a quiet re-read that check() accepted: the read state becomes the acknowledged one. */
  resolve(k: number, got: number | undefined): void {
    const doubts = this.doubt.get(k) ?? [];
    this.doubt.delete(k);
    if (got !== undefined) return this.ack(k, got, false);
    if (this.deleted[k] === 1) return;
    this.ack(k, Math.max(...doubts.filter((d) => d.del).map((d) => d.seq)), true);
  }

  /**
   * After an anomaly was counted: the state read becomes the baseline and the acknowledged one
   * stays allowed (a lost record may come back, a resurrected one go again), so that a later phase
   * counts only what goes wrong in it. The key is remembered in `anomalous`.
   */
  rebase(k: number, got: number | undefined): void {
    const previous = { seq: this.seq[k]!, del: this.deleted[k] === 1 };
    this.anomalous.add(k);
    if (got !== undefined) this.ack(k, got, false);
    else this.ack(k, this.seq[k]!, true);
    this.doubt.set(k, [previous]);
  }
  readonly anomalous = new Set<number>();
}

interface Tally {
  reads: number;
  writes: number;
  deletes: number;
  readErrors: number;
  /** Writes and deletes that failed definitely (not in doubt): they did not apply. */
  writeErrors: number;
  /** Writes and deletes that failed in doubt. */
  writesInDoubt: number;
  lost: number;
  resurrected: number;
  wrong: number;
  samples: string[];
  /** Milliseconds of every operation, retries included. */
  latencies: number[];
}

function newTally(): Tally {
  return { reads: 0, writes: 0, deletes: 0, readErrors: 0, writeErrors: 0, writesInDoubt: 0, lost: 0, resurrected: 0, wrong: 0, samples: [], latencies: [] };
}

function latencySummary(ms: number[]): string {
  const sorted = Float64Array.from(ms).sort();
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1) : "-");
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
}

function note(t: Tally, what: string): void {
  if (t.samples.length < 20) t.samples.push(what);
}

/** Reads key k; returns its sequence number or undefined (not found); throws on any other error. */
async function readSeq(client: Client, k: number): Promise<number | undefined> {
  try {
    const rec = await client.get(key(k), undefined, RETRY);
    return seqOf(k, rec.bins.v);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * A paced read/write/delete load: WORKERS workers, LOAD_OPS_PER_SEC in total, one operation per
 * key at a time. Writes and deletes go to the first HOT_KEYS keys, reads to all keys.
 */
class LoadDriver {
  private stopFlag = true;
  private workers: Promise<void>[] = [];
  private readonly busy = new Uint8Array(RECORDS);
  private t0 = 0;
  private issued = 0;
  tally = newTally();

  constructor(private readonly client: Client, private readonly model: Model) {}

  start(maxMs: number): void {
    expect(this.stopFlag, "load already running").toBe(true);
    this.stopFlag = false;
    this.tally = newTally();
    this.t0 = Date.now();
    this.issued = 0;
    const deadline = Date.now() + maxMs;
    this.workers = Array.from({ length: WORKERS }, () => this.worker(deadline));
  }

  async stop(): Promise<Tally> {
    this.stopFlag = true;
    await Promise.all(this.workers);
    return this.tally;
  }

  private async worker(deadline: number): Promise<void> {
    while (!this.stopFlag && Date.now() < deadline) {
      const now = Date.now();
      let due = this.t0 + (this.issued * 1000) / LOAD_OPS_PER_SEC;
      if (due < now - 1000) {
        // Fell behind (a stall): do not burst to catch up.
        this.t0 = now;
        this.issued = 0;
        due = now;
      }
      this.issued++;
      if (due > now) await sleep(due - now);
      if (this.stopFlag) break;
      const r = Math.random();
      const range = r < READ_FRACTION ? RECORDS : HOT_KEYS;
      let k = -1;
      for (let i = 0; i < 8 && k < 0; i++) {
        const c = Math.floor(Math.random() * range);
        if (this.busy[c] === 0) k = c;
      }
      if (k < 0) continue;
      this.busy[k] = 1;
      const started = performance.now();
      try {
        if (r < READ_FRACTION) await this.read(k);
        else if (r < READ_FRACTION + WRITE_FRACTION) await this.write(k);
        else await this.remove(k);
      } finally {
        this.busy[k] = 0;
        this.tally.latencies.push(performance.now() - started);
      }
    }
  }

  private async read(k: number): Promise<void> {
    const t = this.tally;
    t.reads++;
    let got: number | undefined;
    try {
      got = await readSeq(this.client, k);
    } catch (err) {
      t.readErrors++;
      note(t, `read ${k}: ${describeErr(err)}`);
      return;
    }
    const verdict = this.model.check(k, got);
    if (verdict !== "ok") {
      t[verdict]++;
      note(t, `read ${k}: ${verdict}: got ${got ?? "not found"}, acknowledged ${this.model.deleted[k] ? "delete" : "value"} ${this.model.seq[k]}`);
    }
  }

  private async write(k: number): Promise<void> {
    const t = this.tally;
    t.writes++;
    const seq = this.model.nextSeq();
    try {
      await this.client.put(key(k), { v: valueOf(k, seq) }, undefined, RETRY);
      this.model.ack(k, seq, false);
    } catch (err) {
      this.failed(k, seq, false, err);
    }
  }

  private async remove(k: number): Promise<void> {
    const t = this.tally;
    t.deletes++;
    const seq = this.model.nextSeq();
    try {
      await this.client.remove(key(k), RETRY);
      this.model.ack(k, seq, true);
    } catch (err) {
      if (!isNotFound(err)) return this.failed(k, seq, true, err);
      // Gone: deleted before, or an earlier attempt of this delete applied (then it is in doubt).
      // A definite "not found" for a key whose acknowledged state is a value is a lost write. It
      // is counted here once; the delete did not happen, so the key is left in doubt for later.
      if (!(err as KvError).inDoubt && this.model.check(k, undefined) !== "ok") {
        t.lost++;
        note(t, `delete ${k}: not found, acknowledged value ${this.model.seq[k]}`);
        this.model.addDoubt(k, seq, true);
      } else this.model.ack(k, seq, true);
    }
  }

  private failed(k: number, seq: number, del: boolean, err: unknown): void {
    const t = this.tally;
    if (err instanceof KvError && err.inDoubt) {
      t.writesInDoubt++;
      this.model.addDoubt(k, seq, del);
    } else t.writeErrors++;
    note(t, `${del ? "delete" : "write"} ${k}: ${describeErr(err)}`);
  }
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

interface Verification {
  checked: number;
  doubtful: number;
  errors: number;
  lost: number;
  resurrected: number;
  wrong: number;
  samples: string[];
}

/**
 * With the load stopped: reads keys and checks them against the model. A key in doubt takes
 * the state read (if the model allows it); an anomaly is counted and its state read becomes the
 * baseline for the next phase. `everyKey` false reads every key the load wrote or deleted plus
 * every COLD_SAMPLE-th other key (the rest are never written after loading, so a loss among
 * them stays until the last phase, which reads every key, and the on-disk check at the end).
 */
async function verifyAll(client: Client, model: Model, everyKey: boolean): Promise<Verification> {
  const v: Verification = { checked: 0, doubtful: model.doubt.size, errors: 0, lost: 0, resurrected: 0, wrong: 0, samples: [] };
  const sample = (s: string) => v.samples.length < 20 && v.samples.push(s);
  const all = Array.from({ length: RECORDS }, (_, k) => k).filter((k) => everyKey || k < HOT_KEYS || k % COLD_SAMPLE === 0);
  await pool(all, BULK_CONCURRENCY, async (k) => {
    v.checked++;
    let got: number | undefined;
    try {
      got = await readSeq(client, k);
    } catch (err) {
      v.errors++;
      sample(`verify ${k}: ${describeErr(err)}`);
      return;
    }
    const verdict = model.check(k, got);
    if (verdict === "ok") {
      if (model.doubt.has(k)) model.resolve(k, got);
      return;
    }
    v[verdict]++;
    sample(`verify ${k}: ${verdict}: got ${got ?? "not found"}, acknowledged ${model.deleted[k] ? "delete" : "value"} ${model.seq[k]}, in doubt ${JSON.stringify(model.doubt.get(k) ?? [])}`);
    model.rebase(k, got);
  });
  return v;
}

/** Partition bitmaps of the `replicas` answer for NS: [index 0 (master), index 1, ...]. */
function nsReplicas(value: string): readonly Buffer[] {
  return parseReplicas(value).find((c) => c.ns === NS)?.bitmaps ?? [];
}

const bit = (map: Buffer | undefined, pid: number) => map !== undefined && bitmapHas(map, pid);

interface ClusterCheck {
  /** Empty when settled. */
  problems: string[];
  /** partition-generation and finished moves of every node: settled only while it stays the same. */
  signature: string;
  /** Partitions whose claimants differ from the map's succession. */
  wrongPartitions: number;
  masters: Record<string, number>;
  copies: Record<string, number>;
}

/** One look at the live nodes: sizes, keys, migrations, claims against the map, object count. */
async function checkCluster(live: NodeProcess[]): Promise<ClusterCheck> {
  const problems: string[] = [];
  const n = live.length;
  const answers = await Promise.all(live.map((x) => info(x.servicePort, ["statistics", "replicas", "cluster-key", "partition-generation"]).catch((e: Error) => e)));
  const out: ClusterCheck = { problems, signature: "", wrongPartitions: 0, masters: {}, copies: {} };
  if (answers.some((a) => a instanceof Error)) {
    problems.push(`info failed: ${answers.filter((a) => a instanceof Error).map((a) => (a as Error).message).join("; ")}`);
    return out;
  }
  const ans = answers as Map<string, string>[];
  const stats = ans.map((a) => Object.fromEntries((a.get("statistics") ?? "").split(";").map((kv) => kv.split("="))) as Record<string, string>);
  stats.forEach((s, i) => {
    if (s["cluster-size"] !== String(n)) problems.push(`${live[i]!.nodeId}: cluster-size ${s["cluster-size"]}, want ${n}`);
    if (s.migrate_partitions_remaining !== "0" || s.migrate_partitions_in_progress !== "0") {
      problems.push(`${live[i]!.nodeId}: migrations remaining ${s.migrate_partitions_remaining}, in progress ${s.migrate_partitions_in_progress}`);
    }
  });
  out.signature = ans.map((a, i) => `${a.get("partition-generation")}/${stats[i]!.migrate_moves_done}`).join(",");
  if (new Set(ans.map((a) => a.get("cluster-key"))).size !== 1) problems.push(`cluster keys differ: ${ans.map((a) => a.get("cluster-key")).join(",")}`);
  const map = computePartitionMap(live.map((x) => x.nodeId), RF);
  const claims = ans.map((a) => nsReplicas(a.get("replicas") ?? ""));
  for (const x of live) {
    out.masters[x.nodeId] = 0;
    out.copies[x.nodeId] = 0;
  }
  let example = "";
  for (let pid = 0; pid < PARTITIONS; pid++) {
    const byIndex = Array.from({ length: RF }, (_, i) => live.filter((_, j) => bit(claims[j]![i], pid)).map((x) => x.nodeId));
    for (const [i, ids] of byIndex.entries()) {
      for (const id of ids) {
        out.copies[id]!++;
        if (i === 0) out.masters[id]!++;
      }
    }
    const want = map.succession(pid);
    if (!byIndex.every((ids, i) => ids.length === 1 && ids[0] === want[i])) {
      out.wrongPartitions++;
      example ||= `pid ${pid}: claims ${JSON.stringify(byIndex)}, map ${JSON.stringify(want)}`;
    }
  }
  if (out.wrongPartitions > 0) problems.push(`${out.wrongPartitions} partitions claimed otherwise than the map names (e.g. ${example})`);
  // The map's balance targets (server/core/partition-map.ts): masters ≤ ceil(4096/N), copies
  // ≤ max(ceil(4096·R/N), floor(1.01·4096·R/N)).
  const mastersMax = Math.ceil(PARTITIONS / n);
  const copiesMax = Math.max(Math.ceil((PARTITIONS * RF) / n), Math.floor((1.01 * PARTITIONS * RF) / n));
  for (const x of live) {
    if (out.masters[x.nodeId]! > mastersMax) problems.push(`${x.nodeId} masters ${out.masters[x.nodeId]} > ${mastersMax}`);
    if (out.copies[x.nodeId]! > copiesMax) problems.push(`${x.nodeId} copies ${out.copies[x.nodeId]} > ${copiesMax}`);
  }
  return out;
}

/**
 * Polls checkCluster until it reports no problem with the same signature for SETTLED_STABLE_MS,
 * or the deadline passes. Returns when the stable stretch began and the last look.
 */
async function settle(live: NodeProcess[]): Promise<{ ms: number; check: ClusterCheck }> {
  const t0 = Date.now();
  let since = 0;
  let signature = "";
  for (;;) {
    const check = await checkCluster(live);
    const now = Date.now();
    if (check.problems.length > 0) {
      since = 0;
      signature = "";
    } else if (check.signature !== signature) {
      since = now;
      signature = check.signature;
    }
    // REBALANCE_TRACE=1 prints what still stands between the cluster and settled, every ~2 s.
    if (process.env.REBALANCE_TRACE && (now - t0) % 2000 < 250) console.log(`  +${now - t0} ms: ${check.problems.join("; ") || `stable since ${since ? now - since : 0} ms (${check.signature})`}`);
    if (since > 0 && now - since >= SETTLED_STABLE_MS) return { ms: since - t0, check };
    if (now - t0 > SETTLE_TIMEOUT_MS) {
      if (check.problems.length === 0) check.problems.push(`partition-generations or moves still changing: ${check.signature}`);
      return { ms: now - t0, check };
    }
    await sleep(200);
  }
}

/** Partition id of every key, computed once. */
const pidOf = new Uint16Array(RECORDS);

interface CopiesCheck {
  problems: string[];
  objects: Record<string, number>;
  /** Per node: [keys it must hold, keys it may also hold (tombstones, unresolved keys)]. */
  expected: Record<string, [number, number]>;
}

/**
 * With the load stopped and the model resolved: node i must hold every key whose state is a
 * value in the partitions the map gives it (V_i) and may hold tombstones of the deleted ones there
 * (T_i: a tombstone is reclaimed once settled and old), so V_i ≤ objects_i ≤ V_i + T_i. A copy
 * missing, or a partition not dropped (~49 records each) beyond the tombstone slack, fails.
 */
async function checkCopies(live: NodeProcess[]): Promise<CopiesCheck> {
  const ids = live.map((x) => x.nodeId);
  const map = computePartitionMap(ids, RF);
  const must = new Map(ids.map((id) => [id, 0]));
  const may = new Map(ids.map((id) => [id, 0]));
  for (let k = 0; k < RECORDS; k++) {
    const m = model.deleted[k] === 1 || model.doubt.has(k) ? may : must;
    for (const id of map.succession(pidOf[k]!)) m.set(id, m.get(id)! + 1);
  }
  const stats = await Promise.all(live.map((x) => statistics(x.servicePort)));
  const out: CopiesCheck = { problems: [], objects: {}, expected: {} };
  for (const [i, id] of ids.entries()) {
    const objects = stats[i]!.objects!;
    const lo = must.get(id)!;
    const hi = lo + may.get(id)!;
    out.objects[id] = objects;
    out.expected[id] = [lo, hi];
    if (!(objects >= lo && objects <= hi)) out.problems.push(`${id} holds ${objects} objects, want ${lo}..${hi}`);
  }
  return out;
}

const MIGRATE_FIELDS = [
  "migrate_records_sent", "migrate_bytes_sent", "migrate_delta_bytes", "migrate_records_skipped", "migrate_moves_done", "migrate_moves_failed",
  "migrate_partitions_dropped", "migrate_moves_deferred", "migrate_chunk_retries",
] as const;
type Migrated = Record<(typeof MIGRATE_FIELDS)[number], number>;

async function migrateCounters(live: NodeProcess[]): Promise<Map<NodeProcess, Record<string, number>>> {
  return new Map(await Promise.all(live.map(async (x) => [x, await statistics(x.servicePort)] as const)));
}

/** Sum over `after`'s nodes of counter growth; a node absent from `before` (new, restarted) counts from 0. */
function migratedBetween(before: Map<NodeProcess, Record<string, number>>, after: Map<NodeProcess, Record<string, number>>): Migrated {
  const sum = Object.fromEntries(MIGRATE_FIELDS.map((f) => [f, 0])) as Migrated;
  for (const [x, s] of after) for (const f of MIGRATE_FIELDS) sum[f] += (s[f] ?? 0) - (before.get(x)?.[f] ?? 0);
  return sum;
}

/** Everything on a stopped node's disk for NS: digest (hex) → record summary, and its size in migration chunks. */
async function readDisk(dataDir: string): Promise<{ records: Map<string, { tomb: boolean; seq: number; gen: number }>; bytes: number }> {
  const records = new Map<string, { tomb: boolean; seq: number; gen: number }>();
  let bytes = 0;
  const env = LmdbEnvironment.open({ path: path.join(dataDir, "records.mdb") });
  try {
    const store = env.store(NS);
    for (let pid = 0; pid < PARTITIONS; pid++) {
      for (const { digest, record } of store.partitionEntries(pid)) {
        bytes += chunkEntryBytes({ value: encodeRecord(record) });
        const v = record.bins.find((b) => b.name === "v");
        const text = v ? v.data.toString("utf8") : "";
        records.set(digest.toString("hex"), { tomb: record.tombstone === true, seq: text ? Number(text.split(":")[1]) : -1, gen: record.generation });
      }
    }
  } finally {
    await env.close();
  }
  return { records, bytes };
}

interface PhaseResult {
  name: string;
  tally: Tally;
  verify: Verification;
  check: ClusterCheck;
  copies: CopiesCheck;
  migrationMs: number;
  migrated: Migrated;
}

let nodes: NodeProcess[] = [];
let client: Client;
const model = new Model();
let load: LoadDriver;
/** One line per phase, printed together at the end. */
const summary: string[] = [];

/** The nodes still running, in start order. */
const live = () => nodes.filter((x) => x.alive);

beforeAll(async () => {
  for (let k = 0; k < RECORDS; k++) pidOf[k] = key(k).partitionId;
  nodes = await startCluster(3);
  await waitForSettled(nodes);
  client = await new Client({ hosts: `127.0.0.1:${nodes[0]!.servicePort}`, maxConnsPerNode: 16 }).connect();
  await waitFor(() => client.nodes().length === 3 && client.health().namespaces[NS]?.partitionsWithoutMaster === 0, 10_000, "client to see 3 nodes");
  load = new LoadDriver(client, model);
}, 60_000);

afterAll(async () => {
  console.log(`summary (${RECORDS} records, RF ${RF}, load ${LOAD_OPS_PER_SEC} ops/s):\n${summary.join("\n")}` +
    `\nkeys found in an anomalous state at some point: ${model.anomalous.size}`);
  await load?.stop();
  await client?.close();
  await Promise.all(nodes.map((x) => x.stop()));
  cleanup();
});

/**
 * One phase: start the load, `action` changes the cluster (returns the nodes that should remain),
 * wait until settled and the client knows the new nodes, let the load run on the settled cluster
 * a little, stop it, verify every key, then the copies each node holds.
 */
async function runPhase(name: string, action: () => Promise<NodeProcess[]>, everyKey = false): Promise<PhaseResult> {
  const before = await migrateCounters(live());
  let tally: Tally;
  let settled: { ms: number; check: ClusterCheck };
  let expected: NodeProcess[];
  load.start(SETTLE_TIMEOUT_MS + 60_000);
  try {
    await sleep(1000);
    const t0 = Date.now();
    expected = await action();
    const actionMs = Date.now() - t0;
    settled = await settle(expected);
    settled.ms += actionMs;
    const ids = expected.map((x) => x.nodeId).sort();
    await waitFor(() => client.nodes().map((x) => x.name).sort().join() === ids.join(), 10_000, "client to see the settled nodes").catch(() => undefined);
    await sleep(1500);
  } finally {
    tally = await load.stop();
  }
  const migrated = migratedBetween(before, await migrateCounters(expected));
  const tv = Date.now();
  const verify = await verifyAll(client, model, everyKey);
  const verifyMs = Date.now() - tv;
  let copies = await checkCopies(expected);
  for (const deadline = Date.now() + 15_000; copies.problems.length > 0 && Date.now() < deadline;) {
    await sleep(250);
    copies = await checkCopies(expected);
  }
  const migrationMs = settled.ms;
  const result = { name, tally, verify, check: settled.check, copies, migrationMs, migrated };
  const t = tally;
  console.log(`[${name}] ${settled.check.problems.length ? `NOT settled after ${migrationMs} ms: ${settled.check.problems.join("; ")}` : `settled ${migrationMs} ms after the change`}; ` +
    `load: ${t.reads} reads, ${t.writes} writes, ${t.deletes} deletes; errors after retries: ${t.readErrors} reads, ${t.writeErrors} writes, ${t.writesInDoubt} writes in doubt; ` +
    `reads during the load lost/resurrected/wrong ${t.lost}/${t.resurrected}/${t.wrong}; latency ${latencySummary(t.latencies)}`);
  console.log(`[${name}] verify ${verify.checked} keys in ${verifyMs} ms (${verify.doubtful} of them in doubt): ${verify.errors} errors, lost ${verify.lost}, resurrected ${verify.resurrected}, wrong ${verify.wrong}`);
  console.log(`[${name}] migrated ${JSON.stringify(migrated)}`);
  console.log(`[${name}] masters ${JSON.stringify(settled.check.masters)} copies ${JSON.stringify(settled.check.copies)} objects ${JSON.stringify(copies.objects)} expected ${JSON.stringify(copies.expected)}${copies.problems.length ? ` PROBLEMS ${copies.problems.join("; ")}` : ""}`);
  for (const line of [...t.samples, ...verify.samples]) console.log(`[${name}]   ${line}`);
  summary.push(`  ${name.padEnd(12)} settled ${(migrationMs / 1000).toFixed(1)} s${settled.check.problems.length ? " (NOT settled)" : ""}, ` +
    `errors ${t.readErrors} read / ${t.writeErrors} write / ${t.writesInDoubt} in doubt; during load lost ${t.lost} resurrected ${t.resurrected} wrong ${t.wrong}; ` +
    `after: lost ${verify.lost} resurrected ${verify.resurrected} wrong ${verify.wrong} errors ${verify.errors}; ` +
    `sent ${migrated.migrate_records_sent} records ${migrated.migrate_bytes_sent} B; copies ${copies.problems.length ? "WRONG" : "ok"}; latency ${latencySummary(t.latencies)}`);
  return result;
}

function expectClean(r: PhaseResult, allowInDoubtWrites: boolean): void {
  expect(r.check.problems, `${r.name}: cluster settled as the map says`).toEqual([]);
  expect(r.copies.problems, `${r.name}: objects per node as the map says`).toEqual([]);
  expect(r.tally.reads, `${r.name}: the load ran`).toBeGreaterThan(1000);
  expect(r.tally.readErrors, `${r.name}: read errors after retries`).toBe(0);
  expect(r.tally.writeErrors, `${r.name}: definite write errors after retries`).toBe(0);
  if (!allowInDoubtWrites) expect(r.tally.writesInDoubt, `${r.name}: in-doubt write errors`).toBe(0);
  expect({ lost: r.tally.lost, resurrected: r.tally.resurrected, wrong: r.tally.wrong }, `${r.name}: reads during the load`).toEqual({ lost: 0, resurrected: 0, wrong: 0 });
  expect(r.verify.checked).toBeGreaterThanOrEqual(HOT_KEYS + (RECORDS - HOT_KEYS) / COLD_SAMPLE - 1);
  expect({ errors: r.verify.errors, lost: r.verify.lost, resurrected: r.verify.resurrected, wrong: r.verify.wrong }, `${r.name}: every key after the phase`)
    .toEqual({ errors: 0, lost: 0, resurrected: 0, wrong: 0 });
}

describe(`rebalancing under a read/write/delete load (3 nodes, RF ${RF}, ${RECORDS} records)`, () => {
  it(`loads ${RECORDS} records`, async () => {
    const t0 = Date.now();
    let errors = 0;
    const keys = Array.from({ length: RECORDS }, (_, k) => k);
    await pool(keys, BULK_CONCURRENCY, async (k) => {
      const seq = model.nextSeq();
      try {
        await client.put(key(k), { v: valueOf(k, seq) }, undefined, RETRY);
        model.ack(k, seq, false);
      } catch (err) {
        if (errors++ < 5) console.log(`load ${k}: ${describeErr(err)}`);
      }
    });
    const ms = Date.now() - t0;
    console.log(`initial load: ${RECORDS} records of ${VALUE_BYTES} B in ${ms} ms (${Math.round(RECORDS / (ms / 1000))}/s), ${errors} errors`);
    summary.push(`  load         ${RECORDS} records in ${(ms / 1000).toFixed(1)} s, ${errors} errors`);
    expect(errors).toBe(0);
    const s = await settle(live());
    expect(s.check.problems).toEqual([]);
    const copies = await checkCopies(live());
    expect(copies.problems).toEqual([]);
  }, PHASE_TIMEOUT_MS);

  it("(a) a 4th node joins", async () => {
    const r = await runPhase("a: add", async () => {
      const added = await startNode({ args: ["--seeds", `127.0.0.1:${nodes[0]!.ready.heartbeatPort}`] });
      nodes.push(added);
      return live();
    });
    expectClean(r, false);
    expect(r.migrated.migrate_records_sent, "a join moves records").toBeGreaterThan(0);
  }, PHASE_TIMEOUT_MS);

  it("(b) a node leaves gracefully", async () => {
    const r = await runPhase("b: remove", async () => {
      expect(await nodes[1]!.stop()).toBe(0);
      return live();
    });
    expectClean(r, false);
  }, PHASE_TIMEOUT_MS);

  it("(c) a node is killed with kill -9", async () => {
    const r = await runPhase("c: kill -9", async () => {
      await nodes[2]!.kill9();
      return live();
    });
    console.log(`[c: kill -9] writes failed in doubt: ${r.tally.writesInDoubt}`);
    expectClean(r, true);
  }, PHASE_TIMEOUT_MS);

  it("(d) the killed node restarts on its data dir and gets only what it missed", async () => {
    const victim = nodes[2]!;
    expect(victim.alive).toBe(false);
    const disk = await readDisk(victim.dataDir);
    console.log(`[d: restart] the killed node holds ${disk.records.size} records/tombstones, ${disk.bytes} bytes (as migration chunks)`);
    expect(disk.records.size).toBeGreaterThan(RECORDS / 2);
    const r = await runPhase("d: restart", async () => {
      const back = await startNode({ dataDir: victim.dataDir, args: ["--seeds", `127.0.0.1:${nodes[0]!.ready.heartbeatPort}`] });
      expect(back.nodeId).toBe(victim.nodeId);
      nodes[2] = back;
      return live();
    }, true);
    const ratio = r.migrated.migrate_bytes_sent / disk.bytes;
    console.log(`[d: restart] bytes moved / full copy of the node's data = ${r.migrated.migrate_bytes_sent} / ${disk.bytes} = ${ratio.toFixed(3)} ` +
      `(of which delta bookkeeping ${r.migrated.migrate_delta_bytes} B; records sent ${r.migrated.migrate_records_sent} of ${disk.records.size} held)`);
    summary.push(`  d: ratio     ${ratio.toFixed(3)} = ${r.migrated.migrate_bytes_sent} B moved / ${disk.bytes} B held by the restarted node`);
    expectClean(r, false);
    expect(ratio, "bytes migrated over a full copy of the restarted node's data").toBeLessThan(0.25);
  }, PHASE_TIMEOUT_MS);

  it("on disk: every record on exactly the RF nodes the map names, copies identical and as acknowledged", async () => {
    const final = live();
    expect(final.length).toBe(3);
    const ids = final.map((x) => x.nodeId);
    const dirs = final.map((x) => x.dataDir);
    await Promise.all(final.map((x) => x.stop()));
    const map = computePartitionMap(ids, RF);
    const byDigest = new Map<string, number>();
    for (let k = 0; k < RECORDS; k++) byDigest.set(computeDigest(SET, k).toString("hex"), k);
    const holders = new Map<string, Array<{ id: string; tomb: boolean; seq: number; gen: number }>>();
    for (const [i, dir] of dirs.entries()) {
      for (const [hex, rec] of (await readDisk(dir)).records) holders.set(hex, [...(holders.get(hex) ?? []), { id: ids[i]!, ...rec }]);
    }
    // misplaced: a copy on a node the map does not name; missing: a record absent from a node the
    // map names (a tombstone may be: each holder reclaims its own); divergent: the named nodes'
    // copies differ; lost/resurrected/wrong: the named nodes' copy against the model.
    const bad = { foreign: 0, misplaced: 0, missing: 0, divergent: 0, lost: 0, resurrected: 0, wrong: 0 };
    const samples: string[] = [];
    const sample = (s: string) => samples.length < 20 && samples.push(s);
    const describeCopies = (on: typeof holders extends Map<string, infer V> ? V : never) => JSON.stringify(on.map((h) => `${h.id.slice(0, 6)}:${h.tomb ? "tombstone" : h.seq}/g${h.gen}`));
    for (const [hex, on] of holders) {
      const k = byDigest.get(hex);
      if (k === undefined) {
        bad.foreign++;
        continue;
      }
      const want = map.succession(computePartitionId(Buffer.from(hex, "hex")));
      const named = on.filter((h) => want.includes(h.id));
      if (named.length < on.length) {
        bad.misplaced++;
        sample(`key ${k}: copies ${describeCopies(on)}, map names ${want.map((id) => id.slice(0, 6)).join(",")}`);
      }
      if (named.length === 0) continue; // checked below as a key on no named node
      if (named.length < want.length && !named.every((h) => h.tomb)) {
        bad.missing++;
        sample(`key ${k}: copies ${describeCopies(on)}, map names ${want.map((id) => id.slice(0, 6)).join(",")}`);
      }
      if (new Set(named.map((h) => `${h.tomb}/${h.seq}/${h.gen}`)).size !== 1) {
        bad.divergent++;
        sample(`key ${k}: copies differ ${describeCopies(on)}`);
      }
      const verdict = model.check(k, named[0]!.tomb ? undefined : named[0]!.seq);
      if (verdict !== "ok") {
        bad[verdict]++;
        sample(`key ${k}: on disk ${verdict}: ${describeCopies(on)}, acknowledged ${model.deleted[k] ? "delete" : "value"} ${model.seq[k]}`);
      }
    }
    for (const [hex, k] of byDigest) {
      const named = (holders.get(hex) ?? []).filter((h) => map.succession(pidOf[k]!).includes(h.id));
      if (named.length === 0 && model.check(k, undefined) !== "ok") {
        bad.lost++;
        sample(`key ${k}: acknowledged value ${model.seq[k]} on no node the map names`);
      }
    }
    console.log(`on disk: ${holders.size} digests on ${ids.length} nodes; ${JSON.stringify(bad)}`);
    summary.push(`  on disk      ${holders.size} digests; ${JSON.stringify(bad)}`);
    for (const line of samples) console.log(`  ${line}`);
    expect(bad).toEqual({ foreign: 0, misplaced: 0, missing: 0, divergent: 0, lost: 0, resurrected: 0, wrong: 0 });
  }, PHASE_TIMEOUT_MS);
});
