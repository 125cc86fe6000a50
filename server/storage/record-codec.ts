/**
 * The record codec: one record as bytes, the same on disk (LMDB values) and between nodes
 * (migration chunks carry records exactly as the sender stored them).
 *
 *   value (msgpack) = [format, voidTime, generation, lastUpdateMs, setName,
 *                      userKeyType | nil, userKeyData | nil, name₁, type₁, data₁, name₂, …]
 *   format 1 = a record, 2 = a tombstone (no bins)
 *
 * A flat msgpack array rather than a map: no field names, no shared structures to persist, and
 * the version fields sit first so `peekVoidTime`/`peekVersion` read them from the first bytes
 * without decoding the bins (an expired `get`, the sweep's scan and a migration's sender decode
 * nothing else).
 *
 * Invariant: `decodeRecord` validates what it returns (`assertStoredRecord`) and throws an
 * AssertionError on anything else, so bytes from a peer are checked before they are stored.
 * Buffers in a decoded record are views into the bytes decoded: the caller owns those bytes.
 */
import assert from "node:assert";
import { Packr } from "msgpackr";
import { DIGEST_BYTES } from "../../client/protocol/constants.js";
import type { RecordMeta, StoredBin, StoredKey, StoredRecord } from "./record-store.js";

/** Generation is Aerospike's u16 that wraps to 1, never 0. */
const GENERATION_MAX = 0xffff;
/** Void times are u32 seconds since the Citrusleaf epoch. */
const VOID_TIME_MAX = 0xffffffff;
/** A particle type is one byte on the wire. */
const PARTICLE_TYPE_MAX = 0xff;
/** Programmer-error check on a digest handed to a store. */
export function assertDigest(digest: Buffer): void {
  if (!Buffer.isBuffer(digest) || digest.length !== DIGEST_BYTES) {
    assert.fail(`digest must be a ${DIGEST_BYTES}-byte Buffer, got ${describe(digest)}`);
  }
}

/**
 * Programmer-error check on a record, run before a write and after a read. It is on the hot
 * path (~0.1 µs), so each message is built only when its check fails.
 */
export function assertStoredRecord(record: StoredRecord): void {
  assertRecordMeta(record);
  if (typeof record.setName !== "string") assert.fail(`record setName must be a string, got ${describe(record.setName)}`);
  if (!Array.isArray(record.bins)) assert.fail(`record bins must be an array, got ${describe(record.bins)}`);
  if (record.userKey !== undefined) assertParticle(record.userKey, "user key");
  for (const bin of record.bins) {
    if (typeof bin.name !== "string") assert.fail(`bin name must be a string, got ${describe(bin.name)}`);
    assertParticle(bin, "bin");
  }
}

function assertParticle(p: StoredKey, what: string): void {
  if (!(Number.isInteger(p.type) && p.type >= 0 && p.type <= PARTICLE_TYPE_MAX)) {
    assert.fail(`${what} particle type must be a byte, got ${p.type}`);
  }
  if (!Buffer.isBuffer(p.data)) assert.fail(`${what} data must be a Buffer, got ${describe(p.data)}`);
}

function describe(value: unknown): string {
  return Buffer.isBuffer(value) ? `a ${value.length}-byte Buffer` : `${typeof value} ${String(value).slice(0, 40)}`;
}


/** Version tag in front of every value; bump when the layout changes. */
const FORMAT_V1 = 1;
/** Same layout as format 1, marking a tombstone (no bins). */
const FORMAT_TOMBSTONE = 2;
/** Array slots before the first bin (format, voidTime, gen, lut, set, keyType, keyData). */
const HEADER_SLOTS = 7;

// `useRecords: false` keeps plain msgpack arrays (no record extension). Used synchronously only.
const packr = new Packr({ useRecords: false });

/** A record's version: what conflict resolution (record-rules `supersedes`) compares. */
export interface RecordVersion {
  readonly generation: number;
  readonly lastUpdateMs: number;
}

export function encodeRecord(r: StoredRecord): Buffer {
  const slots: unknown[] = [r.tombstone ? FORMAT_TOMBSTONE : FORMAT_V1, r.voidTime, r.generation, r.lastUpdateMs, r.setName,
    r.userKey?.type ?? null, r.userKey?.data ?? null];
  for (const bin of r.bins) slots.push(bin.name, bin.type, bin.data);
  return packr.pack(slots);
}

/** `bytes` must be owned by the caller: the record's buffers are views into it. */
export function decodeRecord(bytes: Buffer): StoredRecord {
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

/** Programmer-error check on a record's version and void time (part of `assertStoredRecord`). */
export function assertRecordMeta(m: RecordMeta): void {
  const { generation, lastUpdateMs, voidTime } = m;
  if (!(Number.isInteger(generation) && generation >= 1 && generation <= GENERATION_MAX)) {
    assert.fail(`record generation must be an integer in [1, ${GENERATION_MAX}], got ${generation}`);
  }
  if (!(Number.isSafeInteger(lastUpdateMs) && lastUpdateMs >= 0)) {
    assert.fail(`record lastUpdateMs must be a non-negative safe integer, got ${lastUpdateMs}`);
  }
  if (!(Number.isInteger(voidTime) && voidTime >= 0 && voidTime <= VOID_TIME_MAX)) {
    assert.fail(`record voidTime must be an integer in [0, ${VOID_TIME_MAX}], got ${voidTime}`);
  }
}

/**
 * The meta of an encoded record, checked like `decodeRecord` checks it but without building the
 * bins: the value must be exactly one record (or tombstone) of the layout above with every slot
 * of the type it must have (strings, byte-sized particle types, bins as msgpack bin). Encodings
 * other than the common ones (what msgpackr writes for our records) are left to a full decode, so
 * the answer is always `decodeRecord`'s: ~5× cheaper than decoding, for a receiver of migration
 * chunks that stores the bytes as they came.
 */
export function recordMetaOf(b: Buffer): RecordMeta {
  const meta = peekRecordMeta(b);
  if (meta !== undefined) return meta;
  const r = decodeRecord(b);
  return r.tombstone ? { generation: r.generation, lastUpdateMs: r.lastUpdateMs, voidTime: r.voidTime, tombstone: true }
    : { generation: r.generation, lastUpdateMs: r.lastUpdateMs, voidTime: r.voidTime };
}

/** `recordMetaOf`'s walk: undefined for anything it does not vouch for (decode it then). */
export function peekRecordMeta(b: Buffer): RecordMeta | undefined {
  const h = b[0];
  let slots: number;
  let at: number;
  if (h === undefined) return undefined;
  if (h >= 0x90 && h <= 0x9f) {
    slots = h - 0x90;
    at = 1;
  } else if (h === 0xdc && b.length >= 3) {
    slots = b.readUInt16BE(1);
    at = 3;
  } else return undefined;
  if (slots < HEADER_SLOTS || (slots - HEADER_SLOTS) % 3 !== 0) return undefined;
  const format = b[at++];
  if (format !== FORMAT_V1 && format !== FORMAT_TOMBSTONE) return undefined;
  const voidTime = peekUint(b, at);
  if (voidTime < 0) return undefined;
  const generation = peekUint(b, peekEnd);
  if (generation < 1 || generation > GENERATION_MAX) return undefined;
  at = peekEnd;
  let lastUpdateMs: number;
  const t = b[at];
  if (t === 0xcb && b.length >= at + 9) { // (a uint64 decodes to a BigInt, which decodeRecord refuses)
    lastUpdateMs = b.readDoubleBE(at + 1);
    if (!(Number.isSafeInteger(lastUpdateMs) && lastUpdateMs >= 0)) return undefined;
    at += 9;
  } else {
    lastUpdateMs = peekUint(b, at);
    if (lastUpdateMs < 0) return undefined;
    at = peekEnd;
  }
  at = skipStr(b, at); // set name
  if (at < 0) return undefined;
  if (b[at] === 0xc0) {
    if (b[at + 1] !== 0xc0) return undefined; // no user key: both slots nil
    at += 2;
  } else {
    const type = peekUint(b, at);
    if (type < 0 || type > PARTICLE_TYPE_MAX) return undefined;
    at = skipBin(b, peekEnd);
    if (at < 0) return undefined;
  }
  for (let i = HEADER_SLOTS; i < slots; i += 3) {
    at = skipStr(b, at);
    if (at < 0) return undefined;
    const type = peekUint(b, at);
    if (type < 0 || type > PARTICLE_TYPE_MAX) return undefined;
    at = skipBin(b, peekEnd);
    if (at < 0) return undefined;
  }
  if (at !== b.length) return undefined;
  return format === FORMAT_TOMBSTONE ? { generation, lastUpdateMs, voidTime, tombstone: true } : { generation, lastUpdateMs, voidTime };
}

/** Offset past a msgpack str at `i`, or -1. */
function skipStr(b: Buffer, i: number): number {
  const t = b[i];
  if (t === undefined) return -1;
  let end: number;
  if (t >= 0xa0 && t <= 0xbf) end = i + 1 + (t - 0xa0);
  else if (t === 0xd9 && b.length >= i + 2) end = i + 2 + b[i + 1]!;
  else if (t === 0xda && b.length >= i + 3) end = i + 3 + b.readUInt16BE(i + 1);
  else return -1;
  return end <= b.length ? end : -1;
}

/** Offset past a msgpack bin at `i`, or -1. */
function skipBin(b: Buffer, i: number): number {
  const t = b[i];
  let end: number;
  if (t === 0xc4 && b.length >= i + 2) end = i + 2 + b[i + 1]!;
  else if (t === 0xc5 && b.length >= i + 3) end = i + 3 + b.readUInt16BE(i + 1);
  else if (t === 0xc6 && b.length >= i + 5) end = i + 5 + b.readUInt32BE(i + 1);
  else return -1;
  return end <= b.length ? end : -1;
}

/** Offset of the format slot (after the array header), or -1 for an unexpected header. */
function formatOffset(b: Buffer): number {
  const h = b[0]!;
  if (h >= 0x90 && h <= 0x9f) return 1;
  if (h === 0xdc) return 3;
  if (h === 0xdd) return 5;
  return -1;
}

/** Offset just past the integer the last `peekUint` read. */
let peekEnd = 0;

/** A msgpack unsigned integer at `i` (fixint, uint8/16/32), or -1 for any other encoding. */
function peekUint(b: Buffer, i: number): number {
  const t = b[i];
  if (t === undefined) return -1;
  if (t <= 0x7f) {
    peekEnd = i + 1;
    return t;
  }
  const n = t === 0xcc ? 1 : t === 0xcd ? 2 : t === 0xce ? 4 : 0;
  if (n === 0 || b.length < i + 1 + n) return -1;
  peekEnd = i + 1 + n;
  return b.readUIntBE(i + 1, n);
}

/**
 * voidTime read from an encoded value's first bytes, or undefined when its encoding is not the
 * common one (then decode the whole value). Records only (a tombstone's format differs).
 */
export function peekVoidTime(b: Buffer): number | undefined {
  const i = formatOffset(b);
  if (i < 0 || b[i] !== FORMAT_V1) return undefined;
  const v = peekUint(b, i + 1);
  return v < 0 ? undefined : v;
}

/** Whether an encoded value is a tombstone (its format slot). */
export function isTombstoneValue(b: Buffer): boolean {
  const i = formatOffset(b);
  return i >= 0 ? b[i] === FORMAT_TOMBSTONE : decodeRecord(Buffer.from(b)).tombstone === true;
}

/** voidTime of an encoded value (peeked, else decoded). */
export function voidTimeOf(bytes: Buffer): number {
  // subarray: a true-length view, in case `bytes` is lmdb-js's shared buffer (see lmdb-store).
  return peekVoidTime(bytes) ?? (packr.unpack(bytes.subarray(0, bytes.length)) as number[])[1]!;
}

/**
 * The version of an encoded record (record or tombstone), read from its first bytes when they
 * have the common encoding (generation a msgpack uint, lastUpdateMs a float64 or uint), else
 * from a full decode.
 */
export function versionOf(b: Buffer): RecordVersion {
  const i = formatOffset(b);
  if (i >= 0 && (b[i] === FORMAT_V1 || b[i] === FORMAT_TOMBSTONE) && peekUint(b, i + 1) >= 0) {
    const generation = peekUint(b, peekEnd);
    const j = peekEnd;
    const t = b[j];
    if (generation >= 0 && t === 0xcb && b.length >= j + 9) return { generation, lastUpdateMs: b.readDoubleBE(j + 1) };
    if (generation >= 0 && t === 0xcf && b.length >= j + 9) return { generation, lastUpdateMs: Number(b.readBigUInt64BE(j + 1)) };
    const lastUpdateMs = generation >= 0 ? peekUint(b, j) : -1;
    if (lastUpdateMs >= 0) return { generation, lastUpdateMs };
  }
  const slots = packr.unpack(b.subarray(0, b.length)) as number[];
  return { generation: slots[2]!, lastUpdateMs: slots[3]! };
}
