/**
 * The receiving side of node-to-node data traffic: replica writes from a partition's master and
 * requests proxied by a node whose client had a stale map.
 *
 * A replica write carries the whole record as the master stored it (a delete: its tombstone). It
 * is applied only if it supersedes the local copy (generation, then last-update time), so a late or
 * duplicated replica write can never roll a record back. Writes to one key are serialised with
 * the same KeyLocks as client writes.
 */
import { DIGEST_BYTES } from "../../client/protocol/constants.js";
import { partitionId } from "../../client/protocol/digest.js";
import { KvError } from "../../client/protocol/errors.js";
import { ResultCode } from "../../client/protocol/result-code.js";
import { encodeRecord } from "../storage/record-codec.js";
import type { StoredRecord } from "../storage/record-store.js";
import { asBuffer, handleMessage, lockKey, ReplicaWrite, TransactionContext } from "./transaction.js";

/** Applies a replica write; resolves when durable. */
export async function applyReplicaWrite(payload: unknown, ctx: TransactionContext): Promise<boolean> {
  const p = payload as Partial<ReplicaWrite> | undefined;
  const ns = typeof p?.ns === "string" ? ctx.namespaces.get(p.ns) : undefined;
  if (!ns) throw new KvError(ResultCode.NAMESPACE_NOT_FOUND, `replica write for unknown namespace ${String(p?.ns)}`);
  const digest = asBuffer(p!.d);
  if (digest.length !== DIGEST_BYTES) throw new KvError(ResultCode.PARAMETER, "replica write with a bad digest");
  const record = normaliseRecord(p!.r);
  ctx.stats.replicaWrites++;
  // Stored only if it supersedes the local copy (RecordStore.putIfNewer, as migration chunks are).
  // Not wanted here (this node is letting its copy of the partition go): acknowledged, not
  // stored. Asked under the key's lock, right before the store is issued: a drop that began
  // while the write waited for the lock would leave it outside every holding.
  const stored = await ctx.locks.run(lockKey(ns.name, digest), () => {
    if (ctx.onReplicaData?.(ns.name, partitionId(digest)) === false) return [true];
    return ns.store.putIfNewer([{ digest, value: encodeRecord(record), meta: record }]);
  });
  return stored[0]!;
}

/** Duplicate resolution on the holder's side: this node's version of a record (tombstones too). */
export function answerDuplicate(payload: unknown, ctx: TransactionContext): StoredRecord | null {
  const p = payload as { ns?: unknown; d?: unknown } | undefined;
  const ns = typeof p?.ns === "string" ? ctx.namespaces.get(p.ns) : undefined;
  if (!ns) throw new KvError(ResultCode.NAMESPACE_NOT_FOUND, `duplicate resolution for unknown namespace ${String(p?.ns)}`);
  const digest = asBuffer(p!.d);
  if (digest.length !== DIGEST_BYTES) throw new KvError(ResultCode.PARAMETER, "duplicate resolution with a bad digest");
  return ns.store.get(digest, 0) ?? null;
}

/** Runs a proxied client request here and returns the reply frame. */
export function handleProxy(payload: unknown, ctx: TransactionContext): Buffer | Promise<Buffer> {
  const p = payload as { b?: unknown; h?: unknown; t?: unknown } | undefined;
  const hops = typeof p?.h === "number" ? p.h : 1;
  // The deadline travels as ms left (clocks of two nodes are not comparable); absent = none.
  const left = typeof p?.t === "number" && Number.isFinite(p.t) && p.t >= 0 ? p.t : undefined;
  return handleMessage(asBuffer(p?.b), ctx, hops, left === undefined ? undefined : performance.now() + left);
}

/** Restores Buffers (msgpackr may hand back Uint8Arrays) and checks the shape. */
export function normaliseRecord(r: unknown): StoredRecord {
  const rec = r as StoredRecord;
  if (!rec || typeof rec !== "object" || !Array.isArray(rec.bins) || typeof rec.generation !== "number") {
    throw new KvError(ResultCode.PARAMETER, "malformed record from a peer");
  }
  return {
    generation: rec.generation,
    lastUpdateMs: rec.lastUpdateMs,
    voidTime: rec.voidTime,
    setName: rec.setName ?? "",
    ...(rec.userKey ? { userKey: { type: rec.userKey.type, data: asBuffer(rec.userKey.data) } } : {}),
    bins: rec.bins.map((b) => ({ name: b.name, type: b.type, data: asBuffer(b.data) })),
    ...(rec.tombstone === true ? { tombstone: true } : {}),
  };
}
