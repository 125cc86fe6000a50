/**
 * Commands: pure builders of request AS_MSGs for single-record commands, and parsers of replies.
 *
 * Concept: each builder maps (key, arguments, resolved policy) to the exact message the C client
 * 7.4 (inside npm aerospike 6.7.1) would send (§6, §13 of the protocol reference); each parser
 * maps a reply message to a value or a typed error. No sockets, no clock (the parse functions
 * take `nowMs`), so every header bit is unit-tested byte for byte.
 *
 * Invariants:
 * - Fields are written in C order: namespace, set (always, even when empty: size 1), digest,
 *   then the user key when the policy says sendKey.
 * - transaction_ttl = the per-attempt server timeout (C `as_command_server_timeout`): the socket
 *   timeout when 0 < socket < total, else the total timeout (1000 ms by default).
 * - Writes carry record_ttl = TTL seconds (sentinels -1/-2 as u32); reads carry
 *   read_touch_ttl_percent there.
 * - A reply's generation/ttl are read only on success (the server sends 0/0 on errors).
 *
 * Operate results: the server returns one entry per reading op (every op with respondAllOps).
 * Entries are folded by bin name with the LAST entry winning — exactly what npm aerospike 6.7.1
 * does (the C client keeps duplicate bins in its as_record; the binding's
 * `recordbins_to_jsobject` sets them one by one on a JS object, so later ones overwrite earlier
 * ones). Whole-record entries (touch/delete with respondAllOps) land under the bin name "".
 */
import {
  AsMessage,
  BinValue,
  CITRUSLEAF_EPOCH_SEC,
  Field,
  FieldType,
  Info1,
  Info2,
  Info3,
  KvError,
  Op,
  OpType,
  ResultCode,
  decodeParticle,
  emptyMessage,
  keyParticle,
} from "./protocol/index.js";
import { describeResultCode, fromResultCode, parameterError } from "./errors.js";
import { Key } from "./key.js";
import { Operation, binParticle, validateBinName } from "./operations.js";
import {
  ExistsPolicy,
  OperatePolicy,
  ReadPolicy,
  WritePolicy,
  attemptTimeoutMs,
  ttlToWire,
  validateGeneration,
} from "./policy.js";

/** Bins of a record: name → value. */
export type Bins = { [bin: string]: BinValue };

/** A record as returned by get/operate. */
export interface KvRecord {
  readonly key: Key;
  readonly bins: Bins;
  /** Generation: how many times the record was written (16-bit on the server). */
  readonly generation: number;
  /** Seconds until expiry, -1 when it never expires. */
  readonly ttl: number;
}

/** Per-call metadata of a write, overriding the policy's ttl/generation. */
export interface WriteMeta {
  /** Seconds; -1 never expire, -2 keep, 0 namespace default. */
  readonly ttl?: number;
  /** Expected generation (used when generationPolicy is 'eq' or 'gt'). */
  readonly gen?: number;
}

const EXISTS_BITS: { readonly [K in ExistsPolicy]: { readonly info2: number; readonly info3: number } } = {
  ignore: { info2: 0, info3: 0 },
  update: { info2: 0, info3: 0 },
  updateOnly: { info2: 0, info3: Info3.UPDATE_ONLY },
  replace: { info2: 0, info3: Info3.CREATE_OR_REPLACE },
  replaceOnly: { info2: 0, info3: Info3.REPLACE_ONLY },
  createOnly: { info2: Info2.CREATE_ONLY, info3: 0 },
};

/** Ops whose results the server returns without RESPOND_ALL_OPS are the read-type ones. */
const READ_OPS: ReadonlySet<number> = new Set([OpType.READ, OpType.CDT_READ, OpType.EXP_READ, OpType.BITS_READ, OpType.HLL_READ]);
/** Ops that need RESPOND_ALL_OPS to line results up with ops (C `as_operate_set_attr`). */
const RESPOND_ALL_OPS_FORCED: ReadonlySet<number> = new Set([
  OpType.EXP_READ, OpType.BITS_READ, OpType.HLL_READ,
  OpType.EXP_MODIFY, OpType.BITS_MODIFY, OpType.HLL_MODIFY,
]);

/** namespace, set (always), digest, [user key]. */
export function keyFields(key: Key, sendKey: boolean): Field[] {
  const fields: Field[] = [
    { type: FieldType.NAMESPACE, data: Buffer.from(key.ns, "utf8") },
    { type: FieldType.SET, data: Buffer.from(key.set, "utf8") },
    { type: FieldType.DIGEST, data: key.digest },
  ];
  if (sendKey && key.key !== undefined) {
    const p = keyParticle(key.key);
    fields.push({ type: FieldType.KEY, data: Buffer.concat([Buffer.of(p.type), p.data]) });
  }
  return fields;
}

function readTtl(percent: number): number {
  return percent >>> 0; // -1 ("don't reset") travels as 0xFFFFFFFF; the server casts it back
}

function readMessage(key: Key, policy: ReadPolicy, info1: number, ops: Op[]): AsMessage {
  return {
    ...emptyMessage(),
    info1,
    recordTtl: readTtl(policy.readTouchTtlPercent),
    transactionTtl: attemptTimeoutMs(policy),
    fields: keyFields(key, false),
    ops,
  };
}

/**
 * get: all bins (READ|GET_ALL), named bins (READ + one name-only op each), or header only
 * (READ|NOBINDATA) when `bins` is an empty array.
 */
export function getMessage(key: Key, bins: readonly string[] | undefined, policy: ReadPolicy): AsMessage {
  if (bins === undefined) return readMessage(key, policy, Info1.READ | Info1.GET_ALL, []);
  if (bins.length === 0) return readMessage(key, policy, Info1.READ | Info1.NOBINDATA, []);
  const ops = bins.map((name): Op => {
    validateBinName(name);
    return { op: OpType.READ, particleType: 0, name, data: Buffer.alloc(0) };
  });
  return readMessage(key, policy, Info1.READ, ops);
}

/** exists: READ|NOBINDATA, no ops. */
export function existsMessage(key: Key, policy: ReadPolicy): AsMessage {
  return readMessage(key, policy, Info1.READ | Info1.NOBINDATA, []);
}

interface WriteHeaderArgs {
  readonly policy: WritePolicy;
  readonly exists: ExistsPolicy;
  readonly gen: number | undefined;
  readonly recordTtl: number;
  readonly info1: number;
  readonly info2: number;
}

/** C `as_command_write_header_write`: exists, generation, commit level and durable-delete bits. */
function writeHeader(a: WriteHeaderArgs): AsMessage {
  const bits = EXISTS_BITS[a.exists];
  let info2 = a.info2 | bits.info2;
  let info3 = bits.info3;
  let generation = 0;
  if (a.policy.generationPolicy !== "none") {
    if (a.gen === undefined) {
      throw parameterError(`generationPolicy '${a.policy.generationPolicy}' needs an expected generation: pass meta.gen or policy.generation`);
    }
    validateGeneration(a.gen);
    generation = a.gen;
    info2 |= a.policy.generationPolicy === "eq" ? Info2.GENERATION : Info2.GENERATION_GT;
  }
  if (a.policy.commitLevel === "master") info3 |= Info3.COMMIT_MASTER;
  if (a.policy.durableDelete) info2 |= Info2.DURABLE_DELETE;
  return {
    ...emptyMessage(),
    info1: a.info1,
    info2,
    info3,
    generation,
    recordTtl: a.recordTtl,
    transactionTtl: attemptTimeoutMs(a.policy),
  };
}

function writeTtl(meta: WriteMeta | undefined, policy: WritePolicy): number {
  return ttlToWire(meta?.ttl ?? policy.ttl ?? 0);
}

/** put: WRITE + exists/generation bits, record_ttl = ttl, one WRITE op per bin (null deletes it). */
export function putMessage(key: Key, bins: Bins, meta: WriteMeta | undefined, policy: WritePolicy): AsMessage {
  if (bins === null || typeof bins !== "object" || Array.isArray(bins) || Buffer.isBuffer(bins)) {
    throw parameterError("put needs the bins as an object { binName: value }");
  }
  const names = Object.keys(bins);
  if (names.length === 0) throw parameterError("put needs at least one bin");
  const ops = names.map((name): Op => {
    validateBinName(name);
    const p = binParticle(name, bins[name]);
    return { op: OpType.WRITE, particleType: p.type, name, data: p.data };
  });
  const msg = writeHeader({
    policy, exists: policy.exists, gen: meta?.gen ?? policy.generation,
    recordTtl: writeTtl(meta, policy), info1: 0, info2: Info2.WRITE,
  });
  msg.fields = keyFields(key, policy.sendKey);
  msg.ops = ops;
  return msg;
}

/** remove: WRITE|DELETE (+DURABLE_DELETE), exists ignored, generation check honoured. */
export function removeMessage(key: Key, policy: WritePolicy, gen?: number): AsMessage {
  const msg = writeHeader({
    policy, exists: "ignore", gen: gen ?? policy.generation, recordTtl: 0, info1: 0, info2: Info2.WRITE | Info2.DELETE,
  });
  msg.fields = keyFields(key, policy.sendKey);
  return msg;
}

/** touch: a write carrying one TOUCH op; record_ttl = the new TTL. */
export function touchMessage(key: Key, ttl: number | undefined, policy: WritePolicy): AsMessage {
  const msg = writeHeader({
    policy, exists: policy.exists, gen: policy.generation,
    recordTtl: writeTtl({ ttl }, policy), info1: 0, info2: Info2.WRITE,
  });
  msg.fields = keyFields(key, policy.sendKey);
  msg.ops = [{ op: OpType.TOUCH, particleType: 0, name: "", data: Buffer.alloc(0) }];
  return msg;
}

/** The header bits an operation list implies (C `as_operate_set_attr`, plus readHeader). */
export function operateAttributes(ops: readonly Operation[], respondAllOps: boolean): { info1: number; info2: number } {
  let info1 = 0;
  let info2 = 0;
  let readsBins = false;
  let readsHeader = false;
  let respondAll = respondAllOps;
  for (const o of ops) {
    if (o.kind === "readHeader") {
      readsHeader = true;
      continue;
    }
    if (READ_OPS.has(o.op)) {
      info1 |= Info1.READ;
      readsBins = true;
      if (o.bin === "") info1 |= Info1.GET_ALL;
    } else {
      info2 |= Info2.WRITE;
    }
    if (RESPOND_ALL_OPS_FORCED.has(o.op)) respondAll = true;
  }
  if (readsHeader) {
    info1 |= Info1.READ;
    if (!readsBins) info1 |= Info1.NOBINDATA;
  }
  // With GET_ALL the server returns every bin, not one entry per op: the two exclude each other.
  if (respondAll && !(info1 & Info1.GET_ALL)) info2 |= Info2.RESPOND_ALL_OPS;
  return { info1, info2 };
}

/**
 * operate: always a write-style header (as C does, even for read-only lists); record_ttl is the
 * TTL when an op writes, else read_touch_ttl_percent. Returns whether the command writes, which
 * decides routing (master) and retries (write policy).
 */
export function operateMessage(
  key: Key, ops: readonly Operation[], meta: WriteMeta | undefined, policy: OperatePolicy,
): { msg: AsMessage; isWrite: boolean } {
  if (!Array.isArray(ops) || ops.length === 0) throw parameterError("operate needs at least one operation");
  const wire: Op[] = [];
  for (const o of ops) {
    if (o === null || typeof o !== "object" || typeof o.op !== "number") {
      throw parameterError("operate takes operations built with op.read(), op.write(), ...");
    }
    if (o.kind !== "readHeader") wire.push({ op: o.op, particleType: o.particleType, name: o.bin, data: o.data });
  }
  const { info1, info2 } = operateAttributes(ops, policy.respondAllOps);
  const isWrite = (info2 & Info2.WRITE) !== 0;
  const msg = writeHeader({
    policy, exists: policy.exists, gen: meta?.gen ?? policy.generation,
    recordTtl: isWrite ? writeTtl(meta, policy) : readTtl(policy.readTouchTtlPercent),
    info1, info2,
  });
  msg.fields = keyFields(key, policy.sendKey);
  msg.ops = wire;
  return { msg, isWrite };
}

/** Server void time (s since 2010-01-01) → TTL seconds: 0 → -1 (never), else ≥ 1. */
export function ttlFromVoidTime(voidTime: number, nowMs: number): number {
  if (voidTime === 0) return -1;
  const now = Math.floor(nowMs / 1000) - CITRUSLEAF_EPOCH_SEC;
  return voidTime > now ? voidTime - now : 1;
}

/** The error for a non-zero result; `inDoubt` for a write whose outcome is unknown (timeout). */
export function resultError(code: number, isWrite: boolean, where: string): KvError {
  const inDoubt = isWrite && code === ResultCode.TIMEOUT;
  return fromResultCode(code, `${describeResultCode(code)} (${where}, code ${code})`, inDoubt);
}

/** Throws the typed error unless the reply is OK. */
export function checkResult(msg: AsMessage, isWrite: boolean, where: string): void {
  if (msg.resultCode !== ResultCode.OK) throw resultError(msg.resultCode, isWrite, where);
}

/** A reply with bins → record. Duplicate bin names: last wins (see the file header). */
export function parseRecord(key: Key, msg: AsMessage, nowMs: number): KvRecord {
  const bins: Bins = {};
  for (const o of msg.ops) {
    let value: BinValue;
    try {
      value = decodeParticle(o.particleType, o.data);
    } catch (err) {
      throw fromResultCode(ResultCode.CLIENT_ERROR, `malformed value of bin "${o.name}" in the reply`, false, { cause: err });
    }
    if (o.name === "__proto__") {
      // A bin may be called "__proto__"; plain assignment would replace the object's prototype.
      Object.defineProperty(bins, o.name, { value, enumerable: true, writable: true, configurable: true });
    } else {
      bins[o.name] = value;
    }
  }
  return { key, bins, generation: msg.generation, ttl: ttlFromVoidTime(msg.recordTtl, nowMs) };
}
