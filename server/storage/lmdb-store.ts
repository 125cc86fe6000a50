/**
 * LMDB storage: one LMDB environment per node data directory, one named database per namespace.
 *
 * Concept: records are laid out by partition, so that a partition is one contiguous key range
 * that scans and migrations read in order:
 *
 *   key   (22 bytes)  = partition id (u16 big-endian) ‖ digest (20 bytes)
 *   value (msgpack)   = [format=1, voidTime, generation, lastUpdateMs, setName,
 *                        userKeyType | nil, userKeyData | nil, name₁, type₁, data₁, name₂, …]
 *
 * The value is a flat msgpack array rather than a map: no field names on disk, no shared
 * structures to persist, and voidTime sits second so `peekVoidTime` reads it from the first
 * bytes without decoding the bins (an expired `get` and the sweep's scan decode nothing else).
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
import { Packr } from "msgpackr";
import { DIGEST_BYTES, NAMESPACE_BYTES_MAX, PARTITION_COUNT } from "../../client/protocol/constants.js";
import { partitionId } from "../../client/protocol/digest.js";
import { assertDigest, assertStoredRecord, SWEEP_SCAN_FACTOR } from "./memory-store.js";
import { isExpired, RecordStore, StoredBin, StoredEntry, StoredKey, StoredRecord } from "./record-store.js";

/** Bytes of a key: u16 partition id then the digest. */
export const KEY_BYTES = 2 + DIGEST_BYTES;
/** Version tag in front of every value; bump when the layout changes. */
const FORMAT_V1 = 1;
/** Same layout as format 1, marking a tombstone (no bins). */
const FORMAT_TOMBSTONE = 2;
/** Array slots before the first bin (format, voidTime, gen, lut, set, keyType, keyData). */
const HEADER_SLOTS = 7;
/** Named databases an environment may hold (Aerospike allows 32 namespaces per cluster). */
export const NAMESPACES_MAX = 32;
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

function encodeRecord(packr: Packr, r: StoredRecord): Buffer {
  const slots: unknown[] = [r.tombstone ? FORMAT_TOMBSTONE : FORMAT_V1, r.voidTime, r.generation, r.lastUpdateMs, r.setName,
    r.userKey?.type ?? null, r.userKey?.data ?? null];
  for (const bin of r.bins) slots.push(bin.name, bin.type, bin.data);
  return packr.pack(slots);
}

/** `bytes` must be owned by the caller: the record's buffers are views into it. */
function decodeRecord(packr: Packr, bytes: Buffer): StoredRecord {
  const slots: unknown = packr.unpack(bytes);
  assert(Array.isArray(slots) && (slots[0] === FORMAT_V1 || slots[0] === FORMAT_TOMBSTONE), "stored value is not a format-1 record");
  assert((slots.length - HEADER_SLOTS) % 3 === 0, "stored record has a truncated bin");
  const bins: StoredBin[] = [];
  for (let i = HEADER_SLOTS; i < slots.length; i += 3) {
    bins.push({ name: slots[i] as string, type: slots[i + 1] as number, data: slots[i + 2] as Buffer });
  }
  const record: StoredRecord = {
    generation: slots[2] as number,
    lastUpdateMs: slots[3] as number,
    voidTime: slots[1] as number,
    setName: slots[4] as string,
    bins,
  };
  if (slots[0] === FORMAT_TOMBSTONE) (record as { tombstone?: boolean }).tombstone = true;
  // Absent rather than undefined, as it was written (assigned here to keep one literal shape).
  if (slots[5] !== null) (record as { userKey?: StoredKey }).userKey = { type: slots[5] as number, data: slots[6] as Buffer };
  assertStoredRecord(record);
  return record;
}

/**
 * voidTime read from an encoded value's first bytes, or undefined when its encoding is not the
 * common one (then decode the whole value). msgpack: array header, fixint 1, then a uint ≤ u32.
 */
export function peekVoidTime(b: Buffer): number | undefined {
  let i: number;
  if (b[0]! >= 0x90 && b[0]! <= 0x9f) i = 1;
  else if (b[0] === 0xdc) i = 3;
  else if (b[0] === 0xdd) i = 5;
  else return undefined;
  if (b[i] !== FORMAT_V1) return undefined;
  const t = b[i + 1]!;
  if (t <= 0x7f) return t;
  if (t === 0xcc) return b[i + 2];
  if (t === 0xcd && b.length >= i + 4) return b.readUInt16BE(i + 2);
  if (t === 0xce && b.length >= i + 6) return b.readUInt32BE(i + 2);
  return undefined;
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

function voidTimeOf(packr: Packr, bytes: Buffer): number {
  // subarray: a true-length view, in case `bytes` is lmdb-js's shared buffer (see copyBytes).
  return peekVoidTime(bytes) ?? (packr.unpack(bytes.subarray(0, bytes.length)) as number[])[1]!;
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
  // One codec per store; `useRecords: false` keeps plain msgpack arrays (no record extension).
  private readonly packr = new Packr({ useRecords: false });
  /** Reused for synchronous reads only: lmdb-js copies a key before the call returns. */
  private readonly readKey = Buffer.alloc(KEY_BYTES);
  /** The last key the sweep examined; undefined = start from the first key. */
  private sweepCursor: Buffer | undefined = undefined;
  /** Unknown at open: every partition may hold tombstones until the reclaimer scanned it. */
  readonly tombstoneHints = new Uint8Array(PARTITION_COUNT).fill(1);

  constructor(
    private readonly db: Database<Buffer, Buffer>,
    private readonly env: { readonly closed: boolean },
  ) {}

  get(digest: Buffer, nowMs: number): StoredRecord | undefined {
    this.assertOpen();
    assertDigest(digest);
    // getBinaryFast copies nothing: it answers lmdb-js's reused read buffer, valid until the next
    // read. An expired record is rejected before anything is copied or decoded.
    const shared = this.db.getBinaryFast(recordKey(digest, this.readKey));
    if (shared === undefined) return undefined;
    if (isExpired(voidTimeOf(this.packr, shared), nowMs)) return undefined;
    return decodeRecord(this.packr, copyBytes(shared));
  }

  async put(digest: Buffer, record: StoredRecord): Promise<void> {
    this.assertOpen();
    assertDigest(digest);
    assertStoredRecord(record);
    if (record.tombstone) this.tombstoneHints[partitionId(digest)] = 1;
    await this.db.put(recordKey(digest), encodeRecord(this.packr, record));
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
    const packr = this.packr;
    // Range values are fresh copies, so the decoded record may keep views into them.
    return this.db.getRange(partitionBounds(pid)).map(({ key, value }) => ({
      digest: key.subarray(2),
      record: decodeRecord(packr, value),
    }));
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
    const candidates = this.scanExpired(nowMs, limit);
    if (candidates.length === 0) return 0;
    const packr = this.packr;
    return this.db.transaction(() => {
      let removed = 0;
      for (const key of candidates) {
        const current = this.db.getBinaryFast(key);
        if (current !== undefined && isExpired(voidTimeOf(packr, current), nowMs) && this.db.removeSync(key)) {
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

  private scanExpired(nowMs: number, limit: number): Buffer[] {
    const budget = limit * SWEEP_SCAN_FACTOR;
    const origin = this.sweepCursor;
    const expired: Buffer[] = [];
    let scanned = 0;
    let wrapped = false;
    while (scanned < budget && expired.length < limit) {
      const want = budget - scanned;
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
        if (isExpired(voidTimeOf(this.packr, value), nowMs)) expired.push(key);
        if (expired.length === limit) break;
      }
      if (expired.length === limit || (seen === want && !pastOrigin)) continue; // budget or limit hit
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
