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
 *
 * Why: LMDB's grain is synchronous reads and batched asynchronous writes (see STYLE §7); this
 * module follows it and adds only the key layout, the record codec and the sweep cursor.
 */
import assert from "node:assert";
import { Database, IF_EXISTS, open, RootDatabase } from "lmdb";
import { DIGEST_BYTES, NAMESPACE_BYTES_MAX, PARTITION_COUNT } from "../../client/protocol/constants.js";
import { partitionId } from "../../client/protocol/digest.js";
import { supersedes } from "../core/record-rules.js";
import { SWEEP_SCAN_FACTOR } from "./memory-store.js";
import { assertDigest, assertStoredRecord, decodeRecord, encodeRecord, versionOf, voidTimeOf } from "./record-codec.js";
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
    if (record.tombstone) this.tombstoneHints[partitionId(digest)] = 1;
    this.held()[partitionId(digest)] = 1;
    await this.db.put(recordKey(digest), encodeRecord(record));
    this.held()[partitionId(digest)] = 1; // again: a removePartition may have run in between
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

  putIfNewer(records: readonly IncomingRecord[]): Promise<boolean[]> {
    this.assertOpen();
    const keys = records.map(({ digest, record }) => {
      assertDigest(digest);
      assertStoredRecord(record);
      return recordKey(digest);
    });
    if (records.length === 0) return Promise.resolve([]);
    const held = this.held();
    // The callback runs in lmdb-js's write transaction, after every write issued before it:
    // what it reads is what a put issued earlier left, committed or not.
    return this.db.transaction(() => records.map(({ digest, value, record }, i) => {
      const current = this.db.getBinaryFast(keys[i]!);
      if (current !== undefined && !supersedes(record, versionOf(current))) return false;
      if (record.tombstone) this.tombstoneHints[partitionId(digest)] = 1;
      held[partitionId(digest)] = 1;
      // Inside a transaction callback `put` applies at once, in this transaction (measured ~1.4×
      // cheaper than putSync here).
      void this.db.put(keys[i]!, value);
      return true;
    }));
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
   * (wrapping at the end, at most one full cycle), then removes up to `limit` expired ones in one
   * write transaction that re-checks each record: the scan reads the last committed snapshot, and
   * a put already queued (issued, not yet committed) may have made the record live again.
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

  /** Yields after every SWEEP_SLICE entries examined; returns the expired keys. */
  private *scanExpired(nowMs: number, limit: number): Generator<void, Buffer[]> {
    const budget = limit * SWEEP_SCAN_FACTOR;
    const origin = this.sweepCursor;
    const expired: Buffer[] = [];
    let scanned = 0;
    let wrapped = false;
    while (scanned < budget && expired.length < limit) {
      const want = Math.min(budget - scanned, SWEEP_SLICE);
      const from = this.sweepCursor;
      const range = from === undefined ? { limit: want } : { start: from, exclusiveStart: true, limit: want };
      let seen = 0;
      let pastOrigin = false;
      for (const { key, value } of this.db.getRange(range)) {
        if (wrapped && origin !== undefined && Buffer.compare(key, origin) > 0) {
          pastOrigin = true;
          break;
        }
        seen += 1;
        scanned += 1;
        this.sweepCursor = key;
        if (isExpired(voidTimeOf(value), nowMs)) expired.push(key);
        if (expired.length === limit) break;
      }
      if (expired.length === limit) continue; // limit hit
      if (seen === want && !pastOrigin) {
        yield; // budget or slice hit
        continue;
      }
      // Reached the end of the database (or came back round to the origin).
      this.sweepCursor = undefined;
      if (wrapped || origin === undefined || pastOrigin) break;
      wrapped = true;
    }
    return expired;
  }

  private assertOpen(): void {
    assert(!this.env.closed, "LMDB store used after its environment was closed");
  }
}
