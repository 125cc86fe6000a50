/**
 * RecordStore: where one namespace's records live on one node.
 *
 * Concept: a record is addressed by its 20-byte RIPEMD-160 digest. Stores lay records out by
 * partition (partition id ‖ digest) so that one partition is one contiguous range, which scans
 * and migrations read in order.
 *
 * Invariants:
 * - `get` never returns an expired record (voidTime != 0 and voidTime <= now): expiry is
 *   visible at once, the sweeper only reclaims space later.
 * - `put`/`remove` resolve only when the change is durable in the store's sense (LMDB: the
 *   batched transaction holding it has committed; memory: applied). Callers acknowledge
 *   clients after that, never before.
 * - The store does no policy (generation checks, exists actions): those are record rules in
 *   server/core. Callers serialise read-modify-write per key.
 *
 * Bins are kept as raw particles (type byte + wire bytes) so a value read back is byte for byte
 * what a client wrote, whatever its particle type (a double 1.0 stays a double, a list keeps
 * Aerospike's msgpack flavour), and the hot path decodes nothing it does not need to.
 */
import { CITRUSLEAF_EPOCH_SEC } from "../../client/protocol/constants.js";

/** One bin as stored: name (≤ 15 bytes UTF-8), particle type, raw particle bytes. */
export interface StoredBin {
  readonly name: string;
  readonly type: number;
  readonly data: Buffer;
}

/** The user key as sent by the client (particle type + bytes), kept when the policy says send. */
export interface StoredKey {
  readonly type: number;
  readonly data: Buffer;
}

/** A record as kept on disk and passed between layers. */
export interface StoredRecord {
  /** 1..65535; wraps from 65535 to 1 (Aerospike's u16 generation). */
  readonly generation: number;
  /** Last update time, ms since the Unix epoch. Tie-breaker after generation. */
  readonly lastUpdateMs: number;
  /** Absolute expiry, seconds since the Citrusleaf epoch (2010-01-01Z); 0 = never expires. */
  readonly voidTime: number;
  /** Set name; "" when the record has none. */
  readonly setName: string;
  readonly userKey?: StoredKey;
  readonly bins: readonly StoredBin[];
  /**
   * A delete's marker: no bins, a generation above the deleted record's, a void time that makes
   * the expiry sweeper reclaim it later. It migrates and replicates like a record, so an older
   * copy elsewhere can never bring the record back. Readers treat it as "not found".
   */
  readonly tombstone?: boolean;
}

/** One entry of a partition range read. */
export interface StoredEntry {
  readonly digest: Buffer;
  readonly record: StoredRecord;
}

/** A digest and the version of the record it names. */
export interface VersionedDigest {
  readonly digest: Buffer;
  readonly generation: number;
  readonly lastUpdateMs: number;
}

/** One record of a partition as its encoded value (record-codec.ts), with its version read out. */
export interface EncodedEntry extends VersionedDigest {
  /** The record exactly as `encodeRecord` writes it (the store's own bytes: the caller may keep them). */
  readonly value: Buffer;
}

/** What storing an encoded record needs besides its bytes: its version, void time and kind. */
export type RecordMeta = Pick<StoredRecord, "generation" | "lastUpdateMs" | "voidTime" | "tombstone">;

/** A record from a peer: its encoded value, checked, and the meta it encodes. */
export interface IncomingRecord {
  readonly digest: Buffer;
  /** A valid record as `encodeRecord` writes it: stored as is where the store keeps encoded values. */
  readonly value: Buffer;
  /** `value`'s (record-codec `recordMetaOf`); a StoredRecord will do. */
  readonly meta: RecordMeta;
}

export interface RecordStore {
  readonly kind: "lmdb" | "memory";
  /** The live record for `digest`, or undefined when absent or expired at `nowMs`. Synchronous. */
  get(digest: Buffer, nowMs: number): StoredRecord | undefined;
  /** Writes (inserts or overwrites) the record; resolves when durable. */
  put(digest: Buffer, record: StoredRecord): Promise<void>;
  /** Removes the record; resolves true if one was there (expired or not), when durable. */
  remove(digest: Buffer): Promise<boolean>;
  /**
   * One byte per partition: 1 when the partition may hold tombstones (set by every tombstone
   * `put`; a store opened on existing data starts all 1). The tombstone reclaimer clears a byte
   * after a scan of the partition left no tombstone. Bookkeeping only: never a policy.
   */
  readonly tombstoneHints: Uint8Array;
  /** Records held, including expired ones not yet swept. */
  count(): number;
  /** Every record of one partition in digest order, expired included (callers filter). */
  partitionEntries(partitionId: number): Iterable<StoredEntry>;
  /**
   * One byte per partition: 1 when it may hold records. Every partition holding a record (expired
   * included) is 1; one whose records were all removed since the store opened may still be 1 (the
   * LMDB store keeps this up to date on writes only, so the call costs nothing: it runs on every
   * cluster change, while clients wait).
   */
  partitionsHeld(): Uint8Array;
  /** `partitionEntries` without decoding: every record of one partition as its encoded value. */
  partitionEncoded(partitionId: number): Iterable<EncodedEntry>;
  /**
   * Stores each record that supersedes the local copy (record-rules `supersedes`: generation,
   * then last-update time; an expired local copy still counts) and resolves, once durable, with
   * which were stored. All in one write transaction, checked against every write issued before
   * it. A read-modify-write of one of the keys must not straddle it: callers hold the records'
   * key locks, or know that none runs on these keys here (a fill into a copy that serves none).
   * With `onlyIf`, it is asked first, inside that transaction (nothing issued after it has
   * applied yet): when false nothing is stored and the result is null.
   */
  putIfNewer(records: readonly IncomingRecord[]): Promise<boolean[]>;
  putIfNewer(records: readonly IncomingRecord[], onlyIf: () => boolean): Promise<boolean[] | null>;
  /**
   * Removes each record whose stored version is still the one given (generation and last-update
   * time), in one write transaction; resolves with how many it removed, once durable.
   */
  removeIfUnchanged(versions: readonly VersionedDigest[]): Promise<number>;
  /**
   * Removes up to `limit` records of partition `pid`, whatever their version, in one write
   * transaction (after every write issued before it); resolves with how many it removed, once
   * durable. For a drop: the caller makes sure nothing writes the partition meanwhile. A call
   * that removes fewer than `limit` leaves the partition empty and no longer in `partitionsHeld`.
   */
  removePartition(pid: number, limit: number): Promise<number>;
  /** Removes up to `limit` records expired at `nowMs`; resolves with how many it removed. */
  sweepExpired(nowMs: number, limit: number): Promise<number>;
  /** Resolves when every write issued so far is durable. */
  flushed(): Promise<void>;
}

export { CITRUSLEAF_EPOCH_SEC };

/** Void time (Citrusleaf seconds) → whether the record is expired at `nowMs` (Unix ms). */
export function isExpired(voidTime: number, nowMs: number): boolean {
  return voidTime !== 0 && voidTime <= Math.floor(nowMs / 1000) - CITRUSLEAF_EPOCH_SEC;
}
