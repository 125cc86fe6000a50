/**
 * Single-record transactions: an AS_MSG request in, an AS_MSG reply out.
 *
 * Flow: locate the namespace and digest → decide read / delete / write from info1/info2 → run
 * the pure record rules (server/core/record-rules) against the stored record → store the outcome
 * → encode the reply. Reads with no write in flight on their key answer synchronously (no promise
 * on the hot path); writes serialise per key (KeyLocks) and resolve after the store says the
 * change is durable, so an acknowledgement means the write survives a crash.
 *
 * Every failure is a reply with a result code; nothing a client sends can throw out of here.
 */
import {
  DIGEST_BYTES, FieldType, Info1, Info2, MSG_HEADER_BYTES, NAMESPACE_BYTES_MAX, OpType, PROTO_HEADER_BYTES,
  ProtoType, SET_NAME_BYTES_MAX,
} from "../../client/protocol/constants.js";
import { computeDigestFromParticle } from "../../client/protocol/digest.js";
import { KvError } from "../../client/protocol/errors.js";
import { writeProtoHeader } from "../../client/protocol/frame.js";
import { AsMessage, decodeMessage, findField } from "../../client/protocol/message.js";
import { ResultCode } from "../../client/protocol/result-code.js";
import { applyDelete, applyRead, applyWrite, RecordCommand, RecordOutcome, ReplyBin } from "../core/record-rules.js";
import type { StoredKey } from "../storage/record-store.js";
import { KeyLocks } from "./key-lock.js";
import type { Namespace } from "./namespace.js";
import type { ServiceStats } from "./stats.js";

export interface TransactionContext {
  readonly namespaces: ReadonlyMap<string, Namespace>;
  readonly locks: KeyLocks;
  readonly stats: ServiceStats;
  readonly now: () => number;
  readonly log: { warn(obj: object, msg: string): void };
}

/** A reply frame with no bins: errors, write acks, deletes. */
export function headerReply(resultCode: number, generation = 0, voidTime = 0, info3 = 0): Buffer {
  const buf = Buffer.alloc(PROTO_HEADER_BYTES + MSG_HEADER_BYTES);
  writeProtoHeader(buf, 0, ProtoType.MSG, MSG_HEADER_BYTES);
  buf[8] = MSG_HEADER_BYTES;
  buf[11] = info3;
  buf[13] = resultCode;
  buf.writeUInt32BE(generation >>> 0, 14);
  buf.writeUInt32BE(voidTime >>> 0, 18);
  return buf;
}

/** A reply frame carrying bins as READ ops. */
export function binsReply(generation: number, voidTime: number, bins: readonly ReplyBin[]): Buffer {
  let size = MSG_HEADER_BYTES;
  const names = bins.map((b) => Buffer.from(b.name, "utf8"));
  for (let i = 0; i < bins.length; i++) size += 8 + names[i]!.length + bins[i]!.data.length;
  const buf = Buffer.allocUnsafe(PROTO_HEADER_BYTES + size);
  writeProtoHeader(buf, 0, ProtoType.MSG, size);
  buf.fill(0, 8, 8 + MSG_HEADER_BYTES);
  buf[8] = MSG_HEADER_BYTES;
  buf.writeUInt32BE(generation >>> 0, 14);
  buf.writeUInt32BE(voidTime >>> 0, 18);
  buf.writeUInt16BE(bins.length, 28);
  let p = PROTO_HEADER_BYTES + MSG_HEADER_BYTES;
  for (let i = 0; i < bins.length; i++) {
    const bin = bins[i]!;
    const name = names[i]!;
    buf.writeUInt32BE(4 + name.length + bin.data.length, p);
    buf[p + 4] = OpType.READ;
    buf[p + 5] = bin.type;
    buf[p + 6] = 0;
    buf[p + 7] = name.length;
    name.copy(buf, p + 8);
    bin.data.copy(buf, p + 8 + name.length);
    p += 8 + name.length + bin.data.length;
  }
  return buf;
}

interface Located {
  readonly ns: Namespace;
  readonly digest: Buffer;
  readonly lockKey: string;
  readonly cmd: RecordCommand;
}

/** Finds namespace, digest, set and key; a KvError names what is wrong. */
function locate(msg: AsMessage, ctx: TransactionContext): Located {
  const nsField = findField(msg, FieldType.NAMESPACE);
  if (!nsField || nsField.data.length === 0) throw new KvError(ResultCode.PARAMETER, "request has no namespace field");
  if (nsField.data.length > NAMESPACE_BYTES_MAX) throw new KvError(ResultCode.PARAMETER, "namespace name is too long");
  const nsName = nsField.data.toString("utf8");
  const ns = ctx.namespaces.get(nsName);
  if (!ns) throw new KvError(ResultCode.NAMESPACE_NOT_FOUND, `namespace '${nsName}' not found`);
  const setField = findField(msg, FieldType.SET);
  if (setField && setField.data.length > SET_NAME_BYTES_MAX) throw new KvError(ResultCode.PARAMETER, "set name is too long");
  const setName = setField ? setField.data.toString("utf8") : "";
  const keyField = findField(msg, FieldType.KEY);
  let userKey: StoredKey | undefined;
  if (keyField) {
    if (keyField.data.length === 0) throw new KvError(ResultCode.PARAMETER, "key field is empty");
    userKey = { type: keyField.data[0]!, data: Buffer.from(keyField.data.subarray(1)) };
  }
  const digestField = findField(msg, FieldType.DIGEST);
  let digest: Buffer;
  if (digestField) {
    if (digestField.data.length !== DIGEST_BYTES) throw new KvError(ResultCode.PARAMETER, `digest must be ${DIGEST_BYTES} bytes`);
    digest = digestField.data;
    if (userKey && !computeDigestFromParticle(setName, userKey).equals(digest)) {
      throw new KvError(ResultCode.KEY_MISMATCH, "the key sent does not hash to the digest sent");
    }
  } else if (userKey) {
    digest = computeDigestFromParticle(setName, userKey);
  } else {
    throw new KvError(ResultCode.PARAMETER, "request has neither a digest nor a key");
  }
  const cmd: RecordCommand = {
    info1: msg.info1, info2: msg.info2, info3: msg.info3, generation: msg.generation,
    recordTtl: msg.recordTtl, setName, userKey, ops: msg.ops,
  };
  return { ns, digest, lockKey: nsName + "\0" + digest.toString("latin1"), cmd };
}

/** Handles one AS_MSG body; returns the reply frame, or a promise of it for writes. */
export function handleMessage(body: Buffer, ctx: TransactionContext): Buffer | Promise<Buffer> {
  let located: Located;
  try {
    const msg = decodeMessage(body);
    if (msg.info1 & Info1.BATCH || !findField(msg, FieldType.DIGEST) && !findField(msg, FieldType.KEY)) {
      ctx.stats.recordError(ResultCode.UNSUPPORTED_FEATURE);
      // Batch and scan/query arrive as multi-record requests; answer with one LAST message.
      return headerReply(ResultCode.UNSUPPORTED_FEATURE, 0, 0, 0x01);
    }
    located = locate(msg, ctx);
  } catch (err) {
    return errorReply(err, ctx);
  }
  const { cmd } = located;
  if (!(cmd.info2 & Info2.WRITE)) {
    if (!ctx.locks.busy(located.lockKey)) return read(located, ctx);
    return ctx.locks.run(located.lockKey, () => read(located, ctx));
  }
  return ctx.locks.run(located.lockKey, () => write(located, ctx)).catch((err) => errorReply(err, ctx));
}

function read(loc: Located, ctx: TransactionContext): Buffer {
  ctx.stats.reads++;
  const existing = loc.ns.store.get(loc.digest, ctx.now());
  const outcome = applyRead(existing, loc.cmd);
  if (outcome.kind === "error") {
    if (outcome.resultCode === ResultCode.NOT_FOUND) ctx.stats.readsNotFound++;
    else ctx.stats.recordError(outcome.resultCode);
    return headerReply(outcome.resultCode);
  }
  if (outcome.bins.length === 0) return headerReply(ResultCode.OK, outcome.generation, outcome.voidTime);
  return binsReply(outcome.generation, outcome.voidTime, outcome.bins);
}

async function write(loc: Located, ctx: TransactionContext): Promise<Buffer> {
  const { ns, digest, cmd } = loc;
  const now = ctx.now();
  const existing = ns.store.get(digest, now);
  let outcome: RecordOutcome;
  if (cmd.info2 & Info2.DELETE) {
    ctx.stats.deletes++;
    outcome = applyDelete(existing, cmd);
  } else {
    if (cmd.info1 & Info1.READ) ctx.stats.operates++;
    else ctx.stats.writes++;
    outcome = applyWrite(existing, cmd, ns, now);
  }
  if (outcome.kind === "error") {
    if (outcome.resultCode !== ResultCode.NOT_FOUND) ctx.stats.recordError(outcome.resultCode);
    return headerReply(outcome.resultCode);
  }
  if (outcome.change === "put") await ns.store.put(digest, outcome.record!);
  else if (outcome.change === "delete") await ns.store.remove(digest);
  if (outcome.bins.length === 0) return headerReply(ResultCode.OK, outcome.generation, outcome.voidTime);
  return binsReply(outcome.generation, outcome.voidTime, outcome.bins);
}

function errorReply(err: unknown, ctx: TransactionContext): Buffer {
  if (err instanceof KvError && err.code > 0 && err.code < 256) {
    ctx.stats.recordError(err.code);
    return headerReply(err.code);
  }
  ctx.stats.recordError(ResultCode.SERVER_ERROR);
  ctx.log.warn({ err }, "transaction failed");
  return headerReply(ResultCode.SERVER_ERROR);
}
