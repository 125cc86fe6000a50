/**
 * Record rules: what a single-record command does to a record, as a pure function.
 *
 * Input: the record as stored now (or undefined), the decoded command, the namespace's rules and
 * the current time. Output: a result code, the record to store (or a delete, or nothing), and the
 * bins to send back. No I/O: the service layer reads the store, calls this, writes the outcome
 * and replies; the same rules will run on masters and during migrations.
 *
 * Semantics follow the Aerospike server (write.c / read.c / delete.c as restated in the protocol
 * reference §2, §4, §6):
 * - exists actions: CREATE_ONLY fails with RECORD_EXISTS on a live record; UPDATE_ONLY and
 *   REPLACE_ONLY fail with NOT_FOUND on a missing one; REPLACE_ONLY and CREATE_OR_REPLACE start
 *   from no bins.
 * - generation: GENERATION (equal) and GENERATION_GT compare with the stored generation; a record
 *   being created counts as generation 0 (SRV creates the index entry, generation 0, before
 *   generation_check), so a CAS write whose record has since been deleted fails with GENERATION.
 *   TOUCH, like UPDATE_ONLY/REPLACE_ONLY, must not create: NOT_FOUND comes before that check.
 * - every successful write bumps the generation (u16, 65535 wraps to 1) and sets last-update.
 * - TTL: 0 = namespace default, 0xFFFFFFFF = never, 0xFFFFFFFE = keep the current void time.
 * - a write that leaves no bins deletes the record; one that would create a record with no bins
 *   is NOT_FOUND (nothing to create).
 * - ops apply in order; reads inside an operate see the writes before them.
 * - RESPOND_ALL_OPS: one reply entry per op (a NULL entry for a write/modify/delete-all op or a
 *   read of a missing bin), except TOUCH, which SRV's op loop skips before building replies; the
 *   same holds for read-only operates (read.c: `b || respond_all_ops`).
 */
import {
  BIN_NAME_BYTES_MAX, CITRUSLEAF_EPOCH_SEC, Info1, Info2, Info3, OpType, ParticleType,
  TTL_DONT_UPDATE, TTL_NAMESPACE_DEFAULT, TTL_NEVER_EXPIRE,
} from "../../client/protocol/constants.js";
import { ResultCode } from "../../client/protocol/result-code.js";
import type { Op } from "../../client/protocol/message.js";
import type { StoredBin, StoredKey, StoredRecord } from "../storage/record-store.js";

/** Namespace settings the rules need. */
export interface RecordRulesConfig {
  /** Seconds; 0 = records never expire by default. */
  readonly defaultTtlSec: number;
  /** Largest record accepted, counted as stored (bins, names, set, key, overhead). */
  readonly recordBytesMax: number;
}

/** The parts of a request the rules look at. */
export interface RecordCommand {
  readonly info1: number;
  readonly info2: number;
  readonly info3: number;
  readonly generation: number;
  readonly recordTtl: number;
  readonly setName: string;
  readonly userKey?: StoredKey;
  readonly ops: readonly Op[];
}

export type RecordOutcome =
  | { readonly kind: "error"; readonly resultCode: number; readonly message: string }
  | {
      readonly kind: "ok";
      /** What to do to the store. */
      readonly change: "none" | "put" | "delete";
      /** The record after the command (put), the record read (none), undefined after delete. */
      readonly record?: StoredRecord;
      /** Bins for the reply, in reply order. */
      readonly bins: readonly ReplyBin[];
      readonly generation: number;
      readonly voidTime: number;
    };

/** A reply op: name, particle type, bytes (NULL with no bytes for a write slot). */
export type ReplyBin = StoredBin;

/** Fixed per-record overhead counted against recordBytesMax (generation, times, headers). */
export const RECORD_OVERHEAD_BYTES = 32;
const GENERATION_MAX = 0xffff;
const EMPTY = Buffer.alloc(0);
const NULL_BIN = (name: string): ReplyBin => ({ name, type: ParticleType.NULL, data: EMPTY });

const fail = (resultCode: number, message: string): RecordOutcome => ({ kind: "error", resultCode, message });

/** Citrusleaf seconds now. */
export function citrusleafNow(nowMs: number): number {
  return Math.floor(nowMs / 1000) - CITRUSLEAF_EPOCH_SEC;
}

/** Void time for a write TTL; `current` is the record's void time (for "don't update"). */
export function voidTimeFor(ttl: number, current: number | undefined, cfg: RecordRulesConfig, nowMs: number): number {
  const t = ttl >>> 0;
  if (t === TTL_NEVER_EXPIRE) return 0;
  if (t === TTL_DONT_UPDATE && current !== undefined) return current;
  const seconds = t === TTL_NAMESPACE_DEFAULT || t === TTL_DONT_UPDATE ? cfg.defaultTtlSec : t;
  return seconds === 0 ? 0 : citrusleafNow(nowMs) + seconds;
}

export function nextGeneration(current: number | undefined): number {
  return current === undefined || current >= GENERATION_MAX ? 1 : current + 1;
}

/** Bytes a record occupies for the recordBytesMax check. */
export function recordBytes(record: Pick<StoredRecord, "bins" | "setName" | "userKey">): number {
  let n = RECORD_OVERHEAD_BYTES + Buffer.byteLength(record.setName) + (record.userKey ? record.userKey.data.length + 1 : 0);
  for (const b of record.bins) n += Buffer.byteLength(b.name) + b.data.length + 2;
  return n;
}

/** A read-only command (info2 has no WRITE bit). */
export function applyRead(existing: StoredRecord | undefined, cmd: RecordCommand): RecordOutcome {
  if (!existing) return fail(ResultCode.NOT_FOUND, "record not found");
  const base = { kind: "ok" as const, change: "none" as const, record: existing, generation: existing.generation, voidTime: existing.voidTime };
  if (cmd.info1 & Info1.NOBINDATA) return { ...base, bins: [] };
  if (cmd.info1 & Info1.GET_ALL || cmd.ops.length === 0) return { ...base, bins: existing.bins };
  const respondAll = (cmd.info2 & Info2.RESPOND_ALL_OPS) !== 0;
  const bins: ReplyBin[] = [];
  for (const op of cmd.ops) {
    if (op.op !== OpType.READ) return unsupported(op.op);
    if (op.name === "") bins.push(...existing.bins);
    else {
      const bin = existing.bins.find((b) => b.name === op.name);
      if (bin) bins.push(bin);
      else if (respondAll) bins.push(NULL_BIN(op.name));
    }
  }
  return { ...base, bins };
}

function unsupported(op: number): RecordOutcome {
  const known = [OpType.CDT_READ, OpType.CDT_MODIFY, OpType.EXP_READ, OpType.EXP_MODIFY, OpType.BITS_READ,
    OpType.BITS_MODIFY, OpType.HLL_READ, OpType.HLL_MODIFY] as number[];
  return known.includes(op)
    ? fail(ResultCode.UNSUPPORTED_FEATURE, `op ${op} (CDT/bit/HLL/expression) is not supported yet`)
    : fail(ResultCode.PARAMETER, `unknown op ${op}`);
}

/** A delete (info2 WRITE|DELETE). */
export function applyDelete(existing: StoredRecord | undefined, cmd: RecordCommand): RecordOutcome {
  if (!existing) return fail(ResultCode.NOT_FOUND, "record not found");
  const gen = checkGeneration(existing, cmd);
  if (gen) return gen;
  return { kind: "ok", change: "delete", bins: [], generation: 0, voidTime: 0 };
}

/** GENERATION / GENERATION_GT against the stored generation; a missing record counts as 0. */
function checkGeneration(existing: StoredRecord | undefined, cmd: RecordCommand): RecordOutcome | undefined {
  const current = existing?.generation ?? 0;
  if (cmd.info2 & Info2.GENERATION && current !== cmd.generation) {
    return fail(ResultCode.GENERATION, `generation is ${current}, expected ${cmd.generation}`);
  }
  if (cmd.info2 & Info2.GENERATION_GT && cmd.generation <= current) {
    return fail(ResultCode.GENERATION, `generation ${cmd.generation} is not greater than ${current}`);
  }
  return undefined;
}

/** A write or operate with at least one write op (info2 WRITE without DELETE). */
export function applyWrite(existing: StoredRecord | undefined, cmd: RecordCommand, cfg: RecordRulesConfig, nowMs: number): RecordOutcome {
  if (cmd.info2 & Info2.CREATE_ONLY && existing) return fail(ResultCode.RECORD_EXISTS, "record already exists");
  if (cmd.info3 & (Info3.UPDATE_ONLY | Info3.REPLACE_ONLY) && !existing) return fail(ResultCode.NOT_FOUND, "record not found");
  if (!existing && cmd.ops.some((op) => op.op === OpType.TOUCH)) {
    return fail(ResultCode.NOT_FOUND, "cannot touch a record that does not exist");
  }
  const gen = checkGeneration(existing, cmd);
  if (gen) return gen;
  if (cmd.ops.length === 0) return fail(ResultCode.PARAMETER, "write with no ops");

  const replace = (cmd.info3 & (Info3.REPLACE_ONLY | Info3.CREATE_OR_REPLACE)) !== 0;
  const bins = new Map<string, StoredBin>();
  if (existing && !replace) for (const b of existing.bins) bins.set(b.name, b);
  const respondAll = (cmd.info2 & Info2.RESPOND_ALL_OPS) !== 0;
  const reply: ReplyBin[] = [];

  for (const op of cmd.ops) {
    const err = applyOp(op, bins, reply, respondAll);
    if (err) return err;
  }

  if (bins.size === 0) {
    if (!existing) return fail(ResultCode.NOT_FOUND, "write leaves the record with no bins and it does not exist");
    return { kind: "ok", change: "delete", bins: reply, generation: 0, voidTime: 0 };
  }
  const record: StoredRecord = {
    generation: nextGeneration(existing?.generation),
    lastUpdateMs: Math.max(nowMs, (existing?.lastUpdateMs ?? 0) + 1),
    voidTime: voidTimeFor(cmd.recordTtl, existing?.voidTime, cfg, nowMs),
    setName: existing?.setName || cmd.setName,
    userKey: cmd.userKey ?? existing?.userKey,
    bins: [...bins.values()],
  };
  const size = recordBytes(record);
  if (size > cfg.recordBytesMax) {
    return fail(ResultCode.RECORD_TOO_BIG, `record of ${size} bytes exceeds the namespace limit of ${cfg.recordBytesMax}`);
  }
  return { kind: "ok", change: "put", record, bins: reply, generation: record.generation, voidTime: record.voidTime };
}

function checkName(name: string): RecordOutcome | undefined {
  if (name.length === 0) return fail(ResultCode.PARAMETER, "bin name is empty");
  if (Buffer.byteLength(name) > BIN_NAME_BYTES_MAX) {
    return fail(ResultCode.BIN_NAME, `bin name '${name}' is longer than ${BIN_NAME_BYTES_MAX} bytes`);
  }
  return undefined;
}

/** Applies one op to the working bins; pushes its reply entries; returns an error outcome or undefined. */
function applyOp(op: Op, bins: Map<string, StoredBin>, reply: ReplyBin[], respondAll: boolean): RecordOutcome | undefined {
  switch (op.op) {
    case OpType.READ:
      if (op.name === "") reply.push(...bins.values());
      else {
        const b = bins.get(op.name);
        if (b) reply.push(b);
        else if (respondAll) reply.push(NULL_BIN(op.name));
      }
      return undefined;
    case OpType.WRITE: {
      const bad = checkName(op.name) ?? checkParticle(op);
      if (bad) return bad;
      if (op.particleType === ParticleType.NULL) bins.delete(op.name);
      else bins.set(op.name, { name: op.name, type: op.particleType, data: Buffer.from(op.data) });
      break;
    }
    case OpType.ADD: {
      const bad = checkName(op.name) ?? add(op, bins);
      if (bad) return bad;
      break;
    }
    case OpType.APPEND:
    case OpType.PREPEND: {
      const bad = checkName(op.name) ?? concat(op, bins);
      if (bad) return bad;
      break;
    }
    case OpType.TOUCH:
      return undefined; // no reply entry, even with RESPOND_ALL_OPS
    case OpType.DELETE:
      bins.clear();
      break;
    default:
      return unsupported(op.op);
  }
  if (respondAll) reply.push(NULL_BIN(op.name));
  return undefined;
}

const STORABLE = new Set<number>([
  ParticleType.NULL, ParticleType.INTEGER, ParticleType.DOUBLE, ParticleType.STRING, ParticleType.BLOB,
  ParticleType.JAVA_BLOB, ParticleType.CSHARP_BLOB, ParticleType.PYTHON_BLOB, ParticleType.RUBY_BLOB,
  ParticleType.PHP_BLOB, ParticleType.ERLANG_BLOB, ParticleType.BOOL, ParticleType.HLL, ParticleType.MAP,
  ParticleType.LIST, ParticleType.GEOJSON,
]);

function checkParticle(op: Op): RecordOutcome | undefined {
  if (!STORABLE.has(op.particleType)) return fail(ResultCode.PARAMETER, `unknown particle type ${op.particleType} for bin '${op.name}'`);
  const fixed = op.particleType === ParticleType.INTEGER || op.particleType === ParticleType.DOUBLE ? 8
    : op.particleType === ParticleType.BOOL ? 1 : undefined;
  if (fixed !== undefined && op.data.length !== fixed) {
    return fail(ResultCode.PARAMETER, `particle type ${op.particleType} needs ${fixed} bytes, got ${op.data.length}`);
  }
  return undefined;
}

function add(op: Op, bins: Map<string, StoredBin>): RecordOutcome | undefined {
  if (op.particleType !== ParticleType.INTEGER && op.particleType !== ParticleType.DOUBLE) {
    return fail(ResultCode.INCOMPATIBLE_TYPE, `add on bin '${op.name}' needs an integer or double, got particle type ${op.particleType}`);
  }
  const bad = checkParticle(op);
  if (bad) return bad;
  const cur = bins.get(op.name);
  if (!cur) {
    bins.set(op.name, { name: op.name, type: op.particleType, data: Buffer.from(op.data) });
    return undefined;
  }
  if (cur.type !== op.particleType) {
    return fail(ResultCode.INCOMPATIBLE_TYPE, `add of particle type ${op.particleType} to bin '${op.name}' of type ${cur.type}`);
  }
  const data = Buffer.allocUnsafe(8);
  if (cur.type === ParticleType.INTEGER) {
    data.writeBigInt64BE(BigInt.asIntN(64, cur.data.readBigInt64BE(0) + op.data.readBigInt64BE(0)));
  } else {
    data.writeDoubleBE(cur.data.readDoubleBE(0) + op.data.readDoubleBE(0));
  }
  bins.set(op.name, { name: op.name, type: cur.type, data });
  return undefined;
}

function concat(op: Op, bins: Map<string, StoredBin>): RecordOutcome | undefined {
  if (op.particleType !== ParticleType.STRING && op.particleType !== ParticleType.BLOB) {
    return fail(ResultCode.INCOMPATIBLE_TYPE, `append/prepend on bin '${op.name}' needs a string or blob, got particle type ${op.particleType}`);
  }
  const cur = bins.get(op.name);
  if (!cur) {
    bins.set(op.name, { name: op.name, type: op.particleType, data: Buffer.from(op.data) });
    return undefined;
  }
  if (cur.type !== op.particleType) {
    return fail(ResultCode.INCOMPATIBLE_TYPE, `append/prepend of particle type ${op.particleType} to bin '${op.name}' of type ${cur.type}`);
  }
  const data = op.op === OpType.APPEND ? Buffer.concat([cur.data, op.data]) : Buffer.concat([op.data, cur.data]);
  bins.set(op.name, { name: op.name, type: cur.type, data });
  return undefined;
}

/**
 * Conflict resolution between two copies of one record: the higher generation wins, then the
 * later last-update time. True when `incoming` should replace `existing`.
 * Generations wrap (65535 → 1); a copy more than half the range ahead is treated as behind.
 */
export function supersedes(incoming: Pick<StoredRecord, "generation" | "lastUpdateMs">, existing: Pick<StoredRecord, "generation" | "lastUpdateMs"> | undefined): boolean {
  if (!existing) return true;
  if (incoming.generation !== existing.generation) {
    const ahead = (incoming.generation - existing.generation + GENERATION_MAX) % GENERATION_MAX;
    return ahead > 0 && ahead < GENERATION_MAX / 2;
  }
  return incoming.lastUpdateMs > existing.lastUpdateMs;
}
