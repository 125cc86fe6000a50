/**
 * MemoryStore: a RecordStore kept in process memory, for tests and `storage: memory` namespaces.
 *
 * Concept: the same layout as the LMDB store, without the disk. Records live per partition, each
 * partition an array sorted by digest, so that `partitionEntries` yields digest order exactly
 * like an LMDB range read over (partition id ‖ digest) keys:
 *
 *   partitions[pid]  ──►  [ {digest 00a1…, record}, {digest 00c7…, record}, … ]   (sorted, unique)
 *   partitions[pid'] ──►  undefined                                               (never written)
 *
 * Invariants:
 * - Every digest is in the partition `partitionId(digest)` says, once, and arrays stay sorted
 *   by `Buffer.compare`; `size` equals the sum of the array lengths.
 * - A stored record owns its bytes: `put` copies digest, user key and bins into one allocation,
 *   so a caller reusing a socket buffer cannot change (or pin) what is stored.
 * - `put`/`remove` apply before they return (the promise is already settled): "durable" for a
 *   memory store means applied. The LMDB store shows a write only from a later event turn, so
 *   callers must await a write before reading it back on either store.
 *
 * Why sorted arrays: a partition holds ~1/4096 of the namespace (a few hundred records per
 * million), so binary search plus splice costs little and keeps one structure for lookup, ordered
 * partition scans and the sweep cursor.
 */
import assert from "node:assert";
import { PARTITION_COUNT } from "../../client/protocol/constants.js";
import { partitionId } from "../../client/protocol/digest.js";
import { supersedes } from "../core/record-rules.js";
import { assertDigest, assertStoredRecord, decodeRecord, encodeRecord } from "./record-codec.js";
import { EncodedEntry, IncomingRecord, VersionedDigest, isExpired, RecordStore, StoredBin, StoredEntry, StoredRecord } from "./record-store.js";

/** Entries a sweep may examine per record it is allowed to remove (bounds work when few expire). */
export const SWEEP_SCAN_FACTOR = 16;

assert(Number.isInteger(SWEEP_SCAN_FACTOR) && SWEEP_SCAN_FACTOR >= 1);

/** A copy of `record` whose buffers are views into one fresh allocation (one copy, one owner). */
export function copyRecord(record: StoredRecord): StoredRecord {
  let bytes = record.userKey?.data.length ?? 0;
  for (const bin of record.bins) bytes += bin.data.length;
  const arena = Buffer.allocUnsafe(bytes);
  let offset = 0;
  const take = (data: Buffer): Buffer => {
    data.copy(arena, offset);
    offset += data.length;
    return arena.subarray(offset - data.length, offset);
  };
  const bins: StoredBin[] = record.bins.map((b) => ({ name: b.name, type: b.type, data: take(b.data) }));
  const base = {
    generation: record.generation,
    lastUpdateMs: record.lastUpdateMs,
    voidTime: record.voidTime,
    setName: record.setName,
    bins,
  };
  const key = record.userKey;
  const copy: StoredRecord = key === undefined ? base : { ...base, userKey: { type: key.type, data: take(key.data) } };
  return record.tombstone ? { ...copy, tombstone: true } : copy;
}

interface Slot {
  readonly digest: Buffer;
  record: StoredRecord;
}

/** Index of `digest` in a sorted partition, or -(insertion point) - 1 when absent. */
function search(slots: readonly Slot[], digest: Buffer): number {
  let lo = 0;
  let hi = slots.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = Buffer.compare(slots[mid]!.digest, digest);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/** Where the incremental sweep resumes: after `digest` in partition `pid`. */
interface SweepCursor {
  pid: number;
  digest: Buffer;
}

export class MemoryStore implements RecordStore {
  readonly kind = "memory" as const;
  private readonly partitions: (Slot[] | undefined)[] = new Array(PARTITION_COUNT).fill(undefined);
  private size = 0;
  readonly tombstoneHints = new Uint8Array(PARTITION_COUNT);
  private sweepCursor: SweepCursor | undefined = undefined;

  get(digest: Buffer, nowMs: number): StoredRecord | undefined {
    assertDigest(digest);
    const slots = this.partitions[partitionId(digest)];
    if (slots === undefined) return undefined;
    const i = search(slots, digest);
    if (i < 0) return undefined;
    const record = slots[i]!.record;
    return isExpired(record.voidTime, nowMs) ? undefined : record;
  }

  // async only so that a failed assertion rejects, as it does on the LMDB store; the write
  // itself is applied before the first (absent) await, i.e. before put returns.
  async put(digest: Buffer, record: StoredRecord): Promise<void> {
    assertDigest(digest);
    assertStoredRecord(record);
    const owned = copyRecord(record);
    const pid = partitionId(digest);
    if (record.tombstone) this.tombstoneHints[pid] = 1;
    const slots = (this.partitions[pid] ??= []);
    const i = search(slots, digest);
    if (i >= 0) {
      slots[i]!.record = owned;
    } else {
      slots.splice(-i - 1, 0, { digest: Buffer.from(digest), record: owned });
      this.size += 1;
    }
  }

  remove(digest: Buffer): Promise<boolean> {
    assertDigest(digest);
    return Promise.resolve(this.removeNow(partitionId(digest), digest));
  }

  count(): number {
    return this.size;
  }

  /** A snapshot taken at the call: later writes do not disturb an iteration in progress. */
  partitionEntries(pid: number): Iterable<StoredEntry> {
    assert(Number.isInteger(pid) && pid >= 0 && pid < PARTITION_COUNT, `partition id out of range: ${pid}`);
    const slots = this.partitions[pid] ?? [];
    return slots.map((s) => ({ digest: s.digest, record: s.record }));
  }

  partitionsHeld(): Uint8Array {
    return Uint8Array.from(this.partitions, (slots) => (slots !== undefined && slots.length > 0 ? 1 : 0));
  }

  /** A snapshot as `partitionEntries`, each record encoded (what a peer's `putIfNewer` takes). */
  partitionEncoded(pid: number): Iterable<EncodedEntry> {
    assert(Number.isInteger(pid) && pid >= 0 && pid < PARTITION_COUNT, `partition id out of range: ${pid}`);
    const slots = this.partitions[pid] ?? [];
    return slots.map(({ digest, record }) =>
      ({ digest, value: encodeRecord(record), generation: record.generation, lastUpdateMs: record.lastUpdateMs }));
  }

  putIfNewer(records: readonly IncomingRecord[]): Promise<boolean[]>;
  putIfNewer(records: readonly IncomingRecord[], onlyIf: () => boolean): Promise<boolean[] | null>;
  async putIfNewer(records: readonly IncomingRecord[], onlyIf?: () => boolean): Promise<boolean[] | null> {
    // This store keeps records decoded (decodeRecord validates; its buffers are views into the value).
    const decoded = records.map(({ digest, value }) => {
      assertDigest(digest);
      return decodeRecord(value);
    });
    if (records.length === 0) return [];
    if (onlyIf !== undefined && !onlyIf()) return null;
    const stored: boolean[] = [];
    for (const [n, { digest }] of records.entries()) {
      const record = decoded[n]!;
      const slots = this.partitions[partitionId(digest)];
      const i = slots === undefined ? -1 : search(slots, digest);
      const won = supersedes(record, i >= 0 ? slots![i]!.record : undefined);
      if (won) await this.put(digest, record);
      stored.push(won);
    }
    return stored;
  }

  removeIfUnchanged(versions: readonly VersionedDigest[]): Promise<number> {
    let removed = 0;
    for (const { digest, generation, lastUpdateMs } of versions) {
      assertDigest(digest);
      const pid = partitionId(digest);
      const slots = this.partitions[pid];
      const i = slots === undefined ? -1 : search(slots, digest);
      if (i < 0) continue;
      const r = slots![i]!.record;
      if (r.generation === generation && r.lastUpdateMs === lastUpdateMs && this.removeNow(pid, digest)) removed += 1;
    }
    return Promise.resolve(removed);
  }

  removePartition(pid: number, limit: number): Promise<number> {
    assert(Number.isInteger(pid) && pid >= 0 && pid < PARTITION_COUNT, `partition id out of range: ${pid}`);
    assert(Number.isInteger(limit) && limit >= 1, `limit must be a positive integer, got ${limit}`);
    const slots = this.partitions[pid];
    if (slots === undefined) return Promise.resolve(0);
    const removed = Math.min(limit, slots.length);
    slots.splice(0, removed);
    this.size -= removed;
    if (slots.length === 0) this.partitions[pid] = undefined;
    return Promise.resolve(removed);
  }

  /**
   * Examines at most `limit × SWEEP_SCAN_FACTOR` records from where the previous call stopped
   * (wrapping at the end, at most one full cycle) and removes up to `limit` expired ones.
   */
  sweepExpired(nowMs: number, limit: number): Promise<number> {
    assert(Number.isInteger(limit) && limit >= 1, `sweep limit must be a positive integer, got ${limit}`);
    const budget = limit * SWEEP_SCAN_FACTOR;
    const expired: { pid: number; digest: Buffer }[] = [];
    let scanned = 0;
    const origin = this.sweepCursor;
    const startPid = origin?.pid ?? 0;
    // Visit partitions startPid..4095, 0..startPid-1 and, when resuming, the head of startPid up
    // to the cursor again: every record is examined at most once per call.
    const steps = PARTITION_COUNT + (origin === undefined ? 0 : 1);
    for (let step = 0; step < steps && scanned < budget && expired.length < limit; step++) {
      const pid = (startPid + step) % PARTITION_COUNT;
      const slots = this.partitions[pid];
      if (slots === undefined || slots.length === 0) continue;
      const tail = origin !== undefined && step === PARTITION_COUNT;
      let i = 0;
      if (origin !== undefined && step === 0) {
        const at = search(slots, origin.digest);
        i = at >= 0 ? at + 1 : -at - 1;
      }
      for (; i < slots.length && scanned < budget && expired.length < limit; i++) {
        const slot = slots[i]!;
        if (tail && Buffer.compare(slot.digest, origin.digest) > 0) break;
        scanned += 1;
        this.sweepCursor = { pid, digest: slot.digest };
        if (isExpired(slot.record.voidTime, nowMs)) expired.push({ pid, digest: slot.digest });
      }
    }
    if (scanned < budget && expired.length < limit) this.sweepCursor = undefined; // full cycle done
    for (const e of expired) this.removeNow(e.pid, e.digest);
    return Promise.resolve(expired.length);
  }

  flushed(): Promise<void> {
    return Promise.resolve();
  }

  private removeNow(pid: number, digest: Buffer): boolean {
    const slots = this.partitions[pid];
    if (slots === undefined) return false;
    const i = search(slots, digest);
    if (i < 0) return false;
    slots.splice(i, 1);
    this.size -= 1;
    return true;
  }
}
