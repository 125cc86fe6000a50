/**
 * Migration chunks: a run of records of one partition, as the sender stores them, in one buffer.
 *
 *   chunk = entry*        entry = digest (20 bytes) ‖ value length (u32 BE) ‖ value
 *
 * Values are the record codec's bytes (server/storage/record-codec.ts): the sender reads them
 * from LMDB without decoding, the receiver checks each one (`recordMetaOf`: what `decodeRecord`
 * accepts, without building the bins) and stores the same bytes. A chunk from a peer is input
 * like any other: `parseChunk` answers a KvError PARAMETER for anything malformed (truncated,
 * trailing bytes, a record of another partition, a value that is not a record) and never throws
 * anything else.
 */
import { DIGEST_BYTES } from "../../client/protocol/constants.js";
import { partitionId } from "../../client/protocol/digest.js";
import { KvError } from "../../client/protocol/errors.js";
import { ResultCode } from "../../client/protocol/result-code.js";
import { recordMetaOf } from "../storage/record-codec.js";
import type { IncomingRecord, RecordMeta } from "../storage/record-store.js";

/**
 * Records per chunk, at most. The receiver applies a chunk in one LMDB write transaction whose
 * callback runs on its event loop (~5–10 µs a record): this bounds that pause.
 */
export const CHUNK_RECORDS_MAX = 1024;
/** Bytes of entries per chunk, about at most (the sender closes a chunk once past it). */
export const CHUNK_BYTES_MAX = 512 * 1024;
/** Bytes in front of each value: the digest, then the value's length. */
const ENTRY_HEADER_BYTES = DIGEST_BYTES + 4;

/** Bytes one record takes in a chunk; what migration byte counters count. */
export function chunkEntryBytes(e: { readonly value: Buffer }): number {
  return ENTRY_HEADER_BYTES + e.value.length;
}

export function encodeChunk(entries: ReadonlyArray<{ readonly digest: Buffer; readonly value: Buffer }>): Buffer {
  let bytes = 0;
  for (const e of entries) bytes += chunkEntryBytes(e);
  const b = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const e of entries) {
    at += e.digest.copy(b, at);
    at = b.writeUInt32BE(e.value.length, at);
    at += e.value.copy(b, at);
  }
  return b;
}

/**
 * The `n` records of a chunk of partition `pid`, each checked. Buffers in the result are views
 * into `raw`.
 */
export function parseChunk(raw: unknown, n: unknown, pid: number): IncomingRecord[] {
  const b = Buffer.isBuffer(raw) ? raw : raw instanceof Uint8Array ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  if (!b || typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > CHUNK_RECORDS_MAX) {
    throw new KvError(ResultCode.PARAMETER, "malformed migration chunk");
  }
  const records: IncomingRecord[] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    if (at + ENTRY_HEADER_BYTES > b.length) throw new KvError(ResultCode.PARAMETER, "truncated migration chunk");
    const digest = b.subarray(at, at + DIGEST_BYTES);
    const len = b.readUInt32BE(at + DIGEST_BYTES);
    at += ENTRY_HEADER_BYTES;
    if (len > b.length - at) throw new KvError(ResultCode.PARAMETER, "truncated migration chunk");
    const value = b.subarray(at, at + len);
    at += len;
    if (partitionId(digest) !== pid) throw new KvError(ResultCode.PARAMETER, `migration chunk for partition ${pid} carries a record of another`);
    let meta: RecordMeta;
    try {
      meta = recordMetaOf(value);
    } catch (err) {
      throw new KvError(ResultCode.PARAMETER, `malformed record in a migration chunk: ${(err as Error).message}`);
    }
    records.push({ digest, value, meta });
  }
  if (at !== b.length) throw new KvError(ResultCode.PARAMETER, "migration chunk has trailing bytes");
  return records;
}
