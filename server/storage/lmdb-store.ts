/**
 * LMDB storage: one LMDB environment per node data directory, one named database per namespace.
 *
 * Concept: records are laid out by partition, so that a partition is one contiguous key range
 * that scans and migrations read in order:
 *
 *   key   (22 bytes)  = partition id (u16 big-endian) ‖ digest (20 bytes)
 *   value             = the record as record-codec.ts encodes it (msgpack array, version first)
 *
 * Migrations move values as stored: `partitionEncoded` reads them without decoding (the version
 * is peeked from the first bytes) and `putIfNewer` writes a peer's values as they came, each
 * checked against the local version inside one write transaction.
 *
 * Invariants:
 * - `put`/`remove` resolve only when the LMDB transaction holding them has committed and been
 *   synced: with lmdb-js's defaults (`overlappingSync` on, no `noSync`) the commit is flagged
 *   done only after its fdatasync returned (measured: one fdatasync per awaited put).
 * - Visibility is not acknowledgement. A `get` in the turn that issued a write does not see it,
 *   but a `get` in a later turn may see it slightly before its `put` resolves (the transaction is
 *   visible to readers before its sync finishes). Callers that must not expose unacknowledged
 *   data serialise per key, as record-store.ts already requires for read-modify-write.
 * - Writes commit in issue order; those issued in one event turn normally share one transaction
 *   (lmdb-js batching), which is what makes concurrent puts cheap.
 * - Every record read back is validated (`assertStoredRecord`); every record written first.
 * - Buffers in a record returned by `get`/`partitionEntries` are views into one private copy of
 *   the value (never into LMDB's reused read buffer or the memory map), so they stay valid.
 * - `LmdbEnvironment` is the only owner of the LMDB handle; `close()` waits for pending writes,
 *   then closes, once. Using a store after its environment closed is an assertion failure.
 * - A partition whose expiry hint is 0 holds no record with a void time, but for those whose
 *   write, not yet acknowledged, will set it again, and those ahead of the sweep in the partition
 *   it is reading (it reads that one on whatever the hint). Writes of such records set the hint
 *   before they are issued and again once committed; only the sweep clears a hint, as it starts a
 *   partition at its first key, and it sets it again for any entry it reads with a void time.
 *   The sweep skips partitions whose hint is 0.
 *
 * Why: LMDB's grain is synchronous reads and batched asynchronous writes (see STYLE §7); this
 * module follows it and adds only the key layout, the record codec, the sweep cursor and the
 * per-partition hints that let the sweep and the tombstone reclaimer skip partitions.
 */
import assert from "node:assert";
import { Database, IF_EXISTS, open, RootDatabase } from "lmdb";
import { DIGEST_BYTES, NAMESPACE_BYTES_MAX, PARTITION_COUNT } from "../../client/protocol/constants.js";
import { partitionId } from "../../client/protocol/digest.js";
import { supersedes } from "../core/record-rules.js";
import { SWEEP_SCAN_FACTOR } from "./memory-store.js";
import { assertDigest, assertRecordMeta, assertStoredRecord, decodeRecord, encodeRecord, versionOf, voidTimeOf } from "./record-codec.js";
import { EncodedEntry, IncomingRecord, isExpired, VersionedDigest, RecordStore, StoredEntry, StoredRecord } from "./record-store.js";

export { peekVoidTime } from "./record-codec.js";

/** Bytes of a key: u16 partition id then the digest. */
export const KEY_BYTES = 2 + DIGEST_BYTES;
/** Named databases an environment may hold (Aerospike allows 32 namespaces per cluster). */
export const NAMESPACES_MAX = 32;
/** Entries a sweep examines per event-loop turn. */
const SWEEP_SLICE = 2048;
/** Database name prefix, leaving the rest of the environment's name space to other modules. */
const DB_NAME_PREFIX = "ns/";

assert(PARTITION_COUNT <= 0x10000, "a partition id fits the key's u16 prefix");

/** The LMDB key of a digest: partition id (u16 BE) ‖ digest. */
export function recordKey(digest: Buffer, target: Buffer = Buffer.allocUnsafe(KEY_BYTES)): Buffer {
  target.writeUInt16BE(partitionId(digest), 0);
  digest.copy(target, 2);
  return target;
}

/** The first key of partition `pid`, and the first key past it (exclusive end). */
function partitionBounds(pid: number): { start: Buffer; end: Buffer } {
  const start = Buffer.alloc(KEY_BYTES);
  start.writeUInt16BE(pid, 0);
  const end = Buffer.alloc(2);
  end.writeUInt16BE(pid + 1, 0); // 4096 still fits u16, and [pid+1] sorts after [pid, ff…]
  return { start, end };
}

/** The first partition at or after `pid` whose hint is set; PARTITION_COUNT if none. */
function nextHinted(hints: Uint8Array, pid: number): number {
  const found = hints.indexOf(1, pid);
  return found < 0 ? PARTITION_COUNT : found;
}

/**
 * A private copy of a buffer lmdb-js handed out. Its `length` is an own property over a larger
 * typed array, so take a true-length view first; allocUnsafe + set (pooled for small values)
 * measured ~1.5× faster than `Uint8Array#slice`, which lmdb-js's own getBinary uses.
 */
function copyBytes(shared: Buffer): Buffer {
  const n = shared.length;
  const copy = Buffer.allocUnsafe(n);
  copy.set(shared.subarray(0, n));
  return copy;
}

/** Options of `LmdbEnvironment.open`. */
export interface LmdbEnvironmentOptions {
  /** The node's data directory (created if missing). */
  readonly path: string;
  /** Initial map size; lmdb-js grows the map on demand. @default lmdb-js's (starts small) */
  readonly mapSizeBytes?: number;
}

export class LmdbEnvironment {
  private readonly stores = new Map<string, LmdbStore>();
  private readonly metaDbs = new Map<string, Database>();
  private closing: Promise<void> | undefined = undefined;

  private constructor(private readonly root: RootDatabase) {}

  static open(opts: LmdbEnvironmentOptions): LmdbEnvironment {
    assert(typeof opts.path === "string" && opts.path.length > 0, "LMDB path must be a non-empty string");
    const root = open({
      path: opts.path,
      maxDbs: NAMESPACES_MAX + 4, // room for a few non-namespace databases (node metadata)
      ...(opts.mapSizeBytes === undefined ? {} : { mapSize: opts.mapSizeBytes }),
    });
    return new LmdbEnvironment(root);
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** The store of `namespace` (one named database, opened once and cached). */
  store(namespace: string): RecordStore {
    assert(!this.closed, "LMDB environment is closed");
    let store = this.stores.get(namespace);
    if (store === undefined) {
      const bytes = Buffer.byteLength(namespace);
      assert(bytes >= 1 && bytes <= NAMESPACE_BYTES_MAX, `namespace name must be 1..${NAMESPACE_BYTES_MAX} bytes`);
      assert(this.stores.size < NAMESPACES_MAX, `at most ${NAMESPACES_MAX} namespaces per environment`);
      const db = this.root.openDB<Buffer, Buffer>({
        name: DB_NAME_PREFIX + namespace,
        encoding: "binary",
        keyEncoding: "binary",
      });
      store = new LmdbStore(db, this);
      this.stores.set(namespace, store);
    }
    return store;
  }

  /**
   * A named database of node metadata beside the records (not a namespace's; msgpack values),
   * opened once and cached. Its writes commit in issue order with the records' (owed-syncs.ts).
   */
  metaDb(name: string): Database {
    assert(!this.closed, "LMDB environment is closed");
    assert(name.length > 0 && !name.startsWith(DB_NAME_PREFIX), `metadata database name must be non-empty and not start with ${DB_NAME_PREFIX}`);
    let db = this.metaDbs.get(name);
    if (db === undefined) {
      db = this.root.openDB({ name });
      this.metaDbs.set(name, db);
    }
    return db;
  }

  /** Waits for every pending write to be committed and flushed, then closes. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.root.flushed;
      await this.root.close();
    })();
    return this.closing;
  }
}

export class LmdbStore implements RecordStore {
  readonly kind = "lmdb" as const;
  /** Reused for synchronous reads only: lmdb-js copies a key before the call returns. */
  private readonly readKey = Buffer.alloc(KEY_BYTES);
  /** The last key the sweep examined; undefined = start from the first key. */
  private sweepCursor: Buffer | undefined = undefined;
  /** See `tombstoneHints`; made on first use. */
  private hints: Uint8Array | undefined = undefined;
  /** See `expiryHints`; made on first use. */
  private expiring: Uint8Array | undefined = undefined;
  /** Partitions that may hold records (see `partitionsHeld`); read from disk on first use. */
  private heldBits: Uint8Array | undefined = undefined;

  constructor(
    private readonly db: Database<Buffer, Buffer>,
    private readonly env: { readonly closed: boolean },
  ) {}

  /**
   * Unknown at open: every partition that holds records may hold tombstones until the reclaimer
   * scanned it; one that holds none cannot (a joining node's empty store used to have every
   * partition scanned once after its fill, ~12% of its CPU while receiving a 1M-record join).
   */
  get tombstoneHints(): Uint8Array {
    this.hints ??= Uint8Array.from(this.held());
    return this.hints;
  }

  /**
   * One byte per partition: 1 when it may hold a record with a void time (one that expires, a
   * tombstone included), so the sweep skips the others. Without them the sweep read every record
   * in every cycle, TTL or not: ~1.2 s of CPU per 10 s tick (~10% of a core) on a node holding
   * 660k records. Unknown at open, like `tombstoneHints`: every partition holding records is 1
   * until the sweep has read it once; one holding none is 0.
   */
  get expiryHints(): Uint8Array {
    this.expiring ??= Uint8Array.from(this.held());
    return this.expiring;
  }

  get(digest: Buffer, nowMs: number): StoredRecord | undefined {
    this.assertOpen();
    assertDigest(digest);
    // getBinaryFast copies nothing: it answers lmdb-js's reused read buffer, valid until the next
    // read. An expired record is rejected before anything is copied or decoded.
    const shared = this.db.getBinaryFast(recordKey(digest, this.readKey));
    if (shared === undefined) return undefined;
    if (isExpired(voidTimeOf(shared), nowMs)) return undefined;
    return decodeRecord(copyBytes(shared));
  }

  async put(digest: Buffer, record: StoredRecord): Promise<void> {
    this.assertOpen();
    assertDigest(digest);
    assertStoredRecord(record);
    const pid = partitionId(digest);
    const expires = record.voidTime !== 0;
    if (record.tombstone) this.tombstoneHints[pid] = 1;
    if (expires) this.expiryHints[pid] = 1;
    this.held()[pid] = 1;
    await this.db.put(recordKey(digest), encodeRecord(record));
    this.held()[pid] = 1; // again: a removePartition may have run in between
    // Again: a sweep may have cleared the hint in between, reading a snapshot without this record.
    if (expires) this.expiryHints[pid] = 1;
  }

  remove(digest: Buffer): Promise<boolean> {
    this.assertOpen();
    assertDigest(digest);
    // IF_EXISTS makes the removal conditional in the writer thread, so the result reflects every
    // write queued before it (a plain remove always resolves true).
    return this.db.remove(recordKey(digest), IF_EXISTS);
  }

  count(): number {
    this.assertOpen();
    return (this.db.getStats() as { entryCount: number }).entryCount;
  }

  partitionEntries(pid: number): Iterable<StoredEntry> {
    this.assertOpen();
    assert(Number.isInteger(pid) && pid >= 0 && pid < PARTITION_COUNT, `partition id out of range: ${pid}`);
    // Range values are fresh copies, so the decoded record may keep views into them.
    return this.db.getRange(partitionBounds(pid)).map(({ key, value }) => ({
      digest: key.subarray(2),
      record: decodeRecord(value),
    }));
  }

  partitionsHeld(): Uint8Array {
    this.assertOpen();
    return Uint8Array.from(this.held());
  }

  /**
   * The held bitmap: read from disk once (one seek per held partition, to the first key at or
   * past the next partition's start: ~3× faster than a bounded range read per partition, and it
   * skips empty runs; still ~0.3 s for 4096 seeks on a busy node), then set by every write.
   */
  private held(): Uint8Array {
    if (this.heldBits !== undefined) return this.heldBits;
    const held = new Uint8Array(PARTITION_COUNT);
    let pid = 0;
    while (pid < PARTITION_COUNT) {
      let found = -1;
      for (const key of this.db.getKeys({ start: partitionBounds(pid).start, limit: 1 })) found = key.readUInt16BE(0);
      if (found < 0 || found >= PARTITION_COUNT) break;
      held[found] = 1;
      pid = found + 1;
    }
    this.heldBits = held;
    return held;
  }

  partitionEncoded(pid: number): Iterable<EncodedEntry> {
    this.assertOpen();
    assert(Number.isInteger(pid) && pid >= 0 && pid < PARTITION_COUNT, `partition id out of range: ${pid}`);
    return this.db.getRange(partitionBounds(pid)).map(({ key, value }) => {
      const { generation, lastUpdateMs } = versionOf(value);
      return { digest: key.subarray(2), value, generation, lastUpdateMs };
    });
  }

  putIfNewer(records: readonly IncomingRecord[]): Promise<boolean[]>;
  putIfNewer(records: readonly IncomingRecord[], onlyIf: () => boolean): Promise<boolean[] | null>;
  putIfNewer(records: readonly IncomingRecord[], onlyIf?: () => boolean): Promise<boolean[] | null> {
    this.assertOpen();
    const keys = records.map(({ digest, meta }) => {
      assertDigest(digest);
      assertRecordMeta(meta);
      return recordKey(digest);
    });
    if (records.length === 0) return Promise.resolve([]);
    const held = this.held();
    const expiring = this.expiryHints;
    // The callback runs in lmdb-js's write transaction, after every write issued before it:
    // what it reads is what a put issued earlier left, committed or not.
    const stored = this.db.transaction(() => {
      if (onlyIf !== undefined && !onlyIf()) return null;
      return records.map(({ digest, value, meta }, i) => {
        const current = this.db.getBinaryFast(keys[i]!);
        if (current !== undefined && !supersedes(meta, versionOf(current))) return false;
        if (meta.tombstone) this.tombstoneHints[partitionId(digest)] = 1;
        if (meta.voidTime !== 0) expiring[partitionId(digest)] = 1;
        held[partitionId(digest)] = 1;
        // Inside a transaction callback `put` applies at once, in this transaction (measured ~1.4×
        // cheaper than putSync here). An insert-first put (MDB_NOOVERWRITE, one B-tree descent
        // instead of a get and a put) saved ~0.65 of ~3.6 µs per record in a microbench, but in
        // a join's receiver the put took what the get no longer did (two paired profiled runs).
        void this.db.put(keys[i]!, value);
        return true;
      });
    });
    // Again once committed, as `put` does: a sweep may have cleared a hint before the commit.
    return stored.then((done) => {
      done?.forEach((ok, i) => {
        if (ok && records[i]!.meta.voidTime !== 0) expiring[partitionId(records[i]!.digest)] = 1;
      });
      return done;
    });
  }

  removeIfUnchanged(versions: readonly VersionedDigest[]): Promise<number> {
    this.assertOpen();
    const keys = versions.map(({ digest }) => {
      assertDigest(digest);
      return recordKey(digest);
    });
    if (keys.length === 0) return Promise.resolve(0);
    return this.db.transaction(() => {
      let removed = 0;
      for (let i = 0; i < keys.length; i++) {
        const current = this.db.getBinaryFast(keys[i]!);
        if (current === undefined) continue;
        const v = versionOf(current);
        if (v.generation === versions[i]!.generation && v.lastUpdateMs === versions[i]!.lastUpdateMs && this.db.removeSync(keys[i]!)) removed += 1;
      }
      return removed;
    });
  }

  removePartition(pid: number, limit: number): Promise<number> {
    this.assertOpen();
    assert(Number.isInteger(pid) && pid >= 0 && pid < PARTITION_COUNT, `partition id out of range: ${pid}`);
    assert(Number.isInteger(limit) && limit >= 1, `limit must be a positive integer, got ${limit}`);
    const held = this.held();
    const range = { ...partitionBounds(pid), limit };
    // Keys only, read inside the write transaction (it sees every earlier write and this
    // transaction's own removals): about half the CPU of reading values to compare versions.
    return this.db.transaction(() => {
      const keys = [...this.db.getKeys(range)]; // collected first: no removal under the cursor
      for (const key of keys) this.db.removeSync(key);
      if (keys.length < limit) held[pid] = 0;
      return keys.length;
    });
  }

  /**
   * Examines at most `limit × SWEEP_SCAN_FACTOR` entries from where the previous call stopped
   * (wrapping at the end, at most one full cycle; partitions whose `expiryHints` is 0 are skipped
   * for free), then removes up to `limit` expired ones in one write transaction that re-checks
   * each record: the scan reads the last committed snapshot, and a put already queued (issued,
   * not yet committed) may have made the record live again.
   */
  async sweepExpired(nowMs: number, limit: number): Promise<number> {
    this.assertOpen();
    assert(Number.isInteger(limit) && limit >= 1, `sweep limit must be a positive integer, got ${limit}`);
    // The scan goes in slices, the event loop free between them (a whole budget of 160k entries
    // took 0.5–1.7 s in one piece on a busy node, stalling heartbeats and migrations).
    const scan = this.scanExpired(nowMs, limit);
    let step = scan.next();
    while (!step.done) {
      await new Promise((r) => setImmediate(r));
      this.assertOpen();
      step = scan.next();
    }
    const candidates = step.value;
    if (candidates.length === 0) return 0;
    return this.db.transaction(() => {
      let removed = 0;
      for (const key of candidates) {
        const current = this.db.getBinaryFast(key);
        if (current !== undefined && isExpired(voidTimeOf(current), nowMs) && this.db.removeSync(key)) {
          removed += 1;
        }
      }
      return removed;
    });
  }

  flushed(): Promise<void> {
    this.assertOpen();
    return this.db.flushed.then(() => undefined);
  }

  /**
   * Yields after every SWEEP_SLICE entries examined; returns the expired keys. Reads on in key
   * order across partitions whose hint is set, and seeks past those whose hint is 0 (no budget
   * spent on them). A partition entered at its first key has its hint cleared first, and set
   * again by any entry with a void time. One resumed mid-way (the cursor from the previous call)
   * keeps its hint and is read on whatever the hint says: its start was read, and its hint
   * cleared, before.
   *
   * Reads span partitions rather than going one range per partition: that measured ~7% slower
   * over a full scan of 300k records in 4096 partitions (~5 µs to set up each range), which a
   * store whose records all have a TTL would pay every cycle.
   */
  private *scanExpired(nowMs: number, limit: number): Generator<void, Buffer[]> {
    const budget = limit * SWEEP_SCAN_FACTOR;
    const hints = this.expiryHints;
    const origin = this.sweepCursor;
    const originPid = origin === undefined ? -1 : origin.readUInt16BE(0);
    const expired: Buffer[] = [];
    let scanned = 0;
    let sliceLeft = SWEEP_SLICE;
    let wrapped = false;
    // The next read starts after `after`, in partition `pid`; with no `after`, at `pid`'s first key.
    let pid = origin === undefined ? nextHinted(hints, 0) : originPid;
    let after = origin;
    while (scanned < budget && expired.length < limit) {
      if (sliceLeft === 0) {
        yield;
        sliceLeft = SWEEP_SLICE;
      }
      if (after === undefined) {
        if (pid === PARTITION_COUNT) { // no hinted partition left: the end of the database
          this.sweepCursor = undefined;
          if (wrapped || origin === undefined) break;
          wrapped = true;
          pid = nextHinted(hints, 0);
          continue;
        }
        if (wrapped && pid > originPid) { // came round past the origin
          this.sweepCursor = undefined;
          break;
        }
        hints[pid] = 0;
      }
      const want = Math.min(budget - scanned, sliceLeft);
      const range = after === undefined
        ? { start: partitionBounds(pid).start, limit: want }
        : { start: after, exclusiveStart: true, limit: want };
      let seen = 0;
      let stop: "end" | "skip" | "origin" | "limit" = "end";
      for (const { key, value } of this.db.getRange(range)) {
        const keyPid = key.readUInt16BE(0);
        if (keyPid !== pid) { // the first key of a later partition
          if (wrapped && keyPid > originPid) { // came round past the origin
            stop = "origin";
            break;
          }
          pid = keyPid;
          if (hints[pid] === 0) {
            stop = "skip";
            break;
          }
          hints[pid] = 0;
        }
        if (wrapped && Buffer.compare(key, origin!) > 0) {
          // The rest of this partition was read at the start of this call, its hint cleared since:
          // the next cycle reads it whole again rather than trust a hint only half of it set.
          hints[pid] = 1;
          stop = "origin";
          break;
        }
        seen += 1;
        this.sweepCursor = key;
        const voidTime = voidTimeOf(value);
        if (voidTime !== 0) hints[pid] = 1;
        if (isExpired(voidTime, nowMs)) {
          expired.push(key);
          if (expired.length === limit) {
            stop = "limit";
            break;
          }
        }
      }
      scanned += seen;
      sliceLeft -= seen;
      if (stop === "limit") break; // the next call resumes after the cursor
      if (stop === "origin") {
        this.sweepCursor = undefined;
        break;
      }
      if (stop === "skip") {
        after = undefined;
        pid = nextHinted(hints, pid + 1);
      } else if (seen === want) {
        after = this.sweepCursor; // slice or budget used up; the database may go on
      } else {
        after = undefined; // the end of the database
        pid = PARTITION_COUNT;
      }
    }
    return expired;
  }

  private assertOpen(): void {
    assert(!this.env.closed, "LMDB store used after its environment was closed");
  }
}
