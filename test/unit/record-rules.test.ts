/**
 * Goal: the pure record rules (server/core/record-rules.ts) do to a record what an Aerospike
 * server does for the same single-record command: exists actions, generation checks and counting,
 * last-update time, TTL → void time, bin writes/deletes, touch, add, append/prepend, delete-all,
 * reads inside operate, RESPOND_ALL_OPS, reads, deletes, and the parameter/limit errors with the
 * server's result codes (protocol reference §2, §4, §6, §7; SRV write.c, read.c, delete.c).
 *
 * Method: commands are built the way a client sends them, with ops encoded by the shared codec
 * (encodeParticle, OpType, ParticleType, Info1/2/3), and run against hand-made stored records at a
 * fixed clock. Each describe block names the Aerospike rule it checks. A fast-check model test then
 * chains random put/add/append/delete/touch commands (with and without generation expectations,
 * with a clock that may go backwards, from a missing record or one near the generation wrap)
 * through applyWrite/applyDelete and compares every outcome with a naive model: a Map of bin name
 * → JS value plus a generation counter.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BinValue, CITRUSLEAF_EPOCH_SEC, Double, encodeParticle, Info1, Info2, Info3, Op, OpType, ParticleType,
  ResultCode, TTL_DONT_UPDATE, TTL_NAMESPACE_DEFAULT, TTL_NEVER_EXPIRE,
} from "../../client/protocol/index.js";
import {
  applyDelete, applyRead, applyWrite, citrusleafNow, nextGeneration, RECORD_OVERHEAD_BYTES, RecordCommand,
  RecordOutcome, RecordRulesConfig, recordBytes, voidTimeFor,
} from "../../server/core/record-rules.js";
import type { StoredBin, StoredRecord } from "../../server/storage/record-store.js";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const NOW_MS = Date.UTC(2025, 5, 1, 12, 0, 0, 250);
const NOW_CL = Math.floor(NOW_MS / 1000) - CITRUSLEAF_EPOCH_SEC;
const CFG: RecordRulesConfig = { defaultTtlSec: 0, recordBytesMax: 1024 * 1024 };
const EMPTY = Buffer.alloc(0);
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

type OkOutcome = Extract<RecordOutcome, { kind: "ok" }>;

/** An op carrying `value` encoded as a client would. */
function valueOp(op: number, name: string, value: BinValue): Op {
  const p = encodeParticle(value);
  return { op, particleType: p.type, name, data: p.data };
}
const write = (name: string, value: BinValue): Op => valueOp(OpType.WRITE, name, value);
const add = (name: string, value: BinValue): Op => valueOp(OpType.ADD, name, value);
const append = (name: string, value: BinValue): Op => valueOp(OpType.APPEND, name, value);
const prepend = (name: string, value: BinValue): Op => valueOp(OpType.PREPEND, name, value);
const read = (name: string): Op => ({ op: OpType.READ, particleType: ParticleType.NULL, name, data: EMPTY });
const touch = (): Op => ({ op: OpType.TOUCH, particleType: ParticleType.NULL, name: "", data: EMPTY });
const deleteAll = (): Op => ({ op: OpType.DELETE, particleType: ParticleType.NULL, name: "", data: EMPTY });
const rawOp = (op: number, particleType: number, name: string, data: Buffer): Op => ({ op, particleType, name, data });

/** A write command (info2 WRITE) with the given ops; override any header field. */
function wcmd(ops: Op[], over: Partial<RecordCommand> = {}): RecordCommand {
  return { info1: 0, info2: Info2.WRITE, info3: 0, generation: 0, recordTtl: 0, setName: "s", ops, ...over };
}

/** A read command; `get` = all bins (READ|GET_ALL, no ops). */
function rcmd(ops: Op[], over: Partial<RecordCommand> = {}): RecordCommand {
  return { info1: Info1.READ, info2: 0, info3: 0, generation: 0, recordTtl: 0, setName: "s", ops, ...over };
}

/** A delete command (info2 WRITE|DELETE). */
function dcmd(over: Partial<RecordCommand> = {}): RecordCommand {
  return { info1: 0, info2: Info2.WRITE | Info2.DELETE, info3: 0, generation: 0, recordTtl: 0, setName: "s", ops: [], ...over };
}

function bin(name: string, value: BinValue): StoredBin {
  const p = encodeParticle(value);
  return { name, type: p.type, data: Buffer.from(p.data) };
}

/** A stored record with the given bins (generation 1, written a second ago, never expires). */
function rec(bins: Record<string, BinValue>, over: Partial<StoredRecord> = {}): StoredRecord {
  return {
    generation: 1,
    lastUpdateMs: NOW_MS - 1000,
    voidTime: 0,
    setName: "s",
    bins: Object.entries(bins).map(([n, v]) => bin(n, v)),
    ...over,
  };
}

function ok(o: RecordOutcome): OkOutcome {
  if (o.kind !== "ok") throw new Error(`expected ok, got result ${o.resultCode}: ${o.message}`);
  return o;
}

function code(o: RecordOutcome): number {
  return o.kind === "ok" ? ResultCode.OK : o.resultCode;
}

/** Bins as plain values: INTEGER → bigint, DOUBLE → Double, STRING → string, BLOB → hex "0x…". */
type Plain = bigint | string | Double | null | boolean;
function plain(b: StoredBin): Plain {
  switch (b.type) {
    case ParticleType.NULL: return null;
    case ParticleType.INTEGER: return b.data.readBigInt64BE(0);
    case ParticleType.DOUBLE: return new Double(b.data.readDoubleBE(0));
    case ParticleType.STRING: return b.data.toString("utf8");
    case ParticleType.BOOL: return b.data[0] !== 0;
    default: return "0x" + b.data.toString("hex");
  }
}
function binsOf(bins: readonly StoredBin[] | undefined): Record<string, Plain> {
  const out: Record<string, Plain> = {};
  for (const b of bins ?? []) out[b.name] = plain(b);
  return out;
}
/** Reply entries in order, as [name, type, value]. */
function replyOf(o: OkOutcome): [string, number, Plain][] {
  return o.bins.map((b) => [b.name, b.type, plain(b)]);
}

/** Runs a put of `bins` on `existing` and returns the ok outcome. */
function put(existing: StoredRecord | undefined, bins: Record<string, BinValue>, over: Partial<RecordCommand> = {}, nowMs = NOW_MS): OkOutcome {
  return ok(applyWrite(existing, wcmd(Object.entries(bins).map(([n, v]) => write(n, v)), over), CFG, nowMs));
}

// ---------------------------------------------------------------------------------------------
// Exists actions
// ---------------------------------------------------------------------------------------------

describe("exists actions (write.c write_master_policies/write_master: CREATE_ONLY → 5 on a live record; UPDATE_ONLY/REPLACE_ONLY → 2 on a missing one; REPLACE_ONLY/CREATE_OR_REPLACE start from no bins; default merges)", () => {
  const existing = rec({ a: 1, b: "old" });

  it("CREATE_ONLY on an existing record fails with RECORD_EXISTS (5) and changes nothing", () => {
    const o = applyWrite(existing, wcmd([write("c", 3)], { info2: Info2.WRITE | Info2.CREATE_ONLY }), CFG, NOW_MS);
    expect(o).toMatchObject({ kind: "error", resultCode: ResultCode.RECORD_EXISTS });
  });

  it("CREATE_ONLY on a missing record creates it at generation 1", () => {
    const o = ok(applyWrite(undefined, wcmd([write("c", 3)], { info2: Info2.WRITE | Info2.CREATE_ONLY }), CFG, NOW_MS));
    expect(o.change).toBe("put");
    expect(o.generation).toBe(1);
    expect(binsOf(o.record!.bins)).toEqual({ c: 3n });
  });

  it("UPDATE_ONLY on a missing record fails with NOT_FOUND (2)", () => {
    const o = applyWrite(undefined, wcmd([write("c", 3)], { info3: Info3.UPDATE_ONLY }), CFG, NOW_MS);
    expect(code(o)).toBe(ResultCode.NOT_FOUND);
  });

  it("REPLACE_ONLY on a missing record fails with NOT_FOUND (2)", () => {
    const o = applyWrite(undefined, wcmd([write("c", 3)], { info3: Info3.REPLACE_ONLY }), CFG, NOW_MS);
    expect(code(o)).toBe(ResultCode.NOT_FOUND);
  });

  it("UPDATE_ONLY on an existing record merges like the default", () => {
    const o = put(existing, { b: "new", c: 3 }, { info3: Info3.UPDATE_ONLY });
    expect(binsOf(o.record!.bins)).toEqual({ a: 1n, b: "new", c: 3n });
    expect(o.generation).toBe(2);
  });

  it("REPLACE_ONLY on an existing record drops the bins it does not write", () => {
    const o = put(existing, { c: 3 }, { info3: Info3.REPLACE_ONLY });
    expect(binsOf(o.record!.bins)).toEqual({ c: 3n });
    expect(o.generation).toBe(2);
  });

  it("CREATE_OR_REPLACE drops old bins on an existing record and creates a missing one", () => {
    const replaced = put(existing, { b: "x" }, { info3: Info3.CREATE_OR_REPLACE });
    expect(binsOf(replaced.record!.bins)).toEqual({ b: "x" });
    expect(replaced.generation).toBe(2);
    const created = put(undefined, { b: "x" }, { info3: Info3.CREATE_OR_REPLACE });
    expect(binsOf(created.record!.bins)).toEqual({ b: "x" });
    expect(created.generation).toBe(1);
  });

  it("the default (no exists bits) updates: written bins overwrite, others are kept", () => {
    const o = put(existing, { b: "new", c: 3 });
    expect(binsOf(o.record!.bins)).toEqual({ a: 1n, b: "new", c: 3n });
  });

  it("never mutates the stored record it was given, and copies op bytes (ops are views into the request)", () => {
    const before = JSON.stringify(existing);
    const op = write("b", "zz");
    const o = ok(applyWrite(existing, wcmd([op, append("b", "y")]), CFG, NOW_MS));
    expect(JSON.stringify(existing)).toBe(before);
    op.data.fill(0x41); // the request buffer is reused after the reply
    expect(binsOf(o.record!.bins).b).toBe("zzy");
    const w = write("c", "abc");
    const o2 = ok(applyWrite(existing, wcmd([w]), CFG, NOW_MS));
    w.data.fill(0x41);
    expect(binsOf(o2.record!.bins).c).toBe("abc");
  });
});

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

describe("generation check (rw_utils.c generation_check: GENERATION needs expected == stored, GENERATION_GT needs expected > stored, else 3; a record being created has generation 0)", () => {
  const existing = rec({ a: 1 }, { generation: 7 });
  const eq = (g: number) => ({ info2: Info2.WRITE | Info2.GENERATION, generation: g });
  const gt = (g: number) => ({ info2: Info2.WRITE | Info2.GENERATION_GT, generation: g });

  it("GENERATION with the stored generation writes; any other value fails with GENERATION (3)", () => {
    expect(put(existing, { a: 2 }, eq(7)).generation).toBe(8);
    expect(code(applyWrite(existing, wcmd([write("a", 2)], eq(6)), CFG, NOW_MS))).toBe(ResultCode.GENERATION);
    expect(code(applyWrite(existing, wcmd([write("a", 2)], eq(8)), CFG, NOW_MS))).toBe(ResultCode.GENERATION);
  });

  it("GENERATION_GT writes only when the expected generation is greater than the stored one", () => {
    expect(put(existing, { a: 2 }, gt(8)).generation).toBe(8);
    expect(put(existing, { a: 2 }, gt(1000)).generation).toBe(8);
    expect(code(applyWrite(existing, wcmd([write("a", 2)], gt(7)), CFG, NOW_MS))).toBe(ResultCode.GENERATION);
    expect(code(applyWrite(existing, wcmd([write("a", 2)], gt(3)), CFG, NOW_MS))).toBe(ResultCode.GENERATION);
  });

  it("without a generation bit the header generation is ignored", () => {
    expect(put(existing, { a: 2 }, { generation: 99 }).generation).toBe(8);
  });

  it("a missing record counts as generation 0: EQ 0 and GT ≥ 1 create it, EQ ≠ 0 and GT 0 fail with 3", () => {
    // Aerospike creates the index entry (generation 0) before generation_check, so a CAS write with
    // a generation read earlier fails when the record has since been deleted; EQ 0 = "still absent".
    expect(put(undefined, { a: 1 }, eq(0)).generation).toBe(1);
    expect(put(undefined, { a: 1 }, gt(1)).generation).toBe(1);
    expect(code(applyWrite(undefined, wcmd([write("a", 1)], eq(5)), CFG, NOW_MS))).toBe(ResultCode.GENERATION);
    expect(code(applyWrite(undefined, wcmd([write("a", 1)], gt(0)), CFG, NOW_MS))).toBe(ResultCode.GENERATION);
  });

  it("the exists check comes first: UPDATE_ONLY on a missing record is NOT_FOUND whatever the generation", () => {
    const o = applyWrite(undefined, wcmd([write("a", 1)], { ...eq(5), info3: Info3.UPDATE_ONLY }), CFG, NOW_MS);
    expect(code(o)).toBe(ResultCode.NOT_FOUND);
  });
});

describe("generation counting (every successful write bumps the u16 generation; 65535 wraps to 1; a new record starts at 1)", () => {
  it("nextGeneration: undefined → 1, n → n+1, 65535 → 1", () => {
    expect(nextGeneration(undefined)).toBe(1);
    expect(nextGeneration(1)).toBe(2);
    expect(nextGeneration(65534)).toBe(65535);
    expect(nextGeneration(65535)).toBe(1);
  });

  it("applyWrite bumps by one per write and wraps 65535 → 1", () => {
    let r: StoredRecord | undefined;
    for (let i = 1; i <= 3; i++) {
      const o = put(r, { a: i });
      expect(o.generation).toBe(i);
      expect(o.record!.generation).toBe(i);
      r = o.record;
    }
    const wrapped = put(rec({ a: 1 }, { generation: 65535 }), { a: 2 });
    expect(wrapped.generation).toBe(1);
    expect(put(wrapped.record, { a: 3 }).generation).toBe(2);
  });

  it("a record deleted and written again starts over at generation 1", () => {
    const del = ok(applyDelete(rec({ a: 1 }, { generation: 40 }), dcmd()));
    expect(del.change).toBe("delete");
    expect(put(undefined, { a: 1 }).generation).toBe(1);
  });
});

describe("last-update time (rw_utils.c advance_record_version sets it to now; shoal keeps it strictly increasing per record, its tie-breaker after generation, even if the clock goes back)", () => {
  it("a new record takes the current time", () => {
    expect(put(undefined, { a: 1 }).record!.lastUpdateMs).toBe(NOW_MS);
  });

  it("moves forward with the clock", () => {
    expect(put(rec({ a: 1 }, { lastUpdateMs: NOW_MS - 5000 }), { a: 2 }).record!.lastUpdateMs).toBe(NOW_MS);
  });

  it("stays strictly increasing when the clock goes back or stands still", () => {
    const future = rec({ a: 1 }, { lastUpdateMs: NOW_MS + 60_000 });
    const o1 = put(future, { a: 2 });
    expect(o1.record!.lastUpdateMs).toBe(NOW_MS + 60_001);
    const o2 = put(o1.record, { a: 3 }, {}, NOW_MS - 10_000);
    expect(o2.record!.lastUpdateMs).toBe(NOW_MS + 60_002);
    const same = put(put(undefined, { a: 1 }).record, { a: 2 });
    expect(same.record!.lastUpdateMs).toBe(NOW_MS + 1);
  });
});

// ---------------------------------------------------------------------------------------------
// TTL
// ---------------------------------------------------------------------------------------------

describe("TTL → void time (§2 write TTL values: 0 = namespace default, 0xFFFFFFFF = never, 0xFFFFFFFE = keep current (new record → default), N = now + N; void time 0 = never)", () => {
  const ns0: RecordRulesConfig = { defaultTtlSec: 0, recordBytesMax: 1 << 20 };
  const ns100: RecordRulesConfig = { defaultTtlSec: 100, recordBytesMax: 1 << 20 };

  it("citrusleafNow counts whole seconds since 2010-01-01Z", () => {
    expect(citrusleafNow(CITRUSLEAF_EPOCH_SEC * 1000)).toBe(0);
    expect(citrusleafNow(CITRUSLEAF_EPOCH_SEC * 1000 + 1999)).toBe(1);
    expect(citrusleafNow(NOW_MS)).toBe(NOW_CL);
  });

  it("0 uses the namespace default: default 0 → never (0), default N → now + N", () => {
    expect(voidTimeFor(TTL_NAMESPACE_DEFAULT, undefined, ns0, NOW_MS)).toBe(0);
    expect(voidTimeFor(TTL_NAMESPACE_DEFAULT, undefined, ns100, NOW_MS)).toBe(NOW_CL + 100);
    expect(voidTimeFor(TTL_NAMESPACE_DEFAULT, 12345, ns100, NOW_MS)).toBe(NOW_CL + 100);
  });

  it("0xFFFFFFFF (or -1) never expires, whatever the default or current void time", () => {
    expect(voidTimeFor(TTL_NEVER_EXPIRE, undefined, ns100, NOW_MS)).toBe(0);
    expect(voidTimeFor(TTL_NEVER_EXPIRE, 12345, ns100, NOW_MS)).toBe(0);
    expect(voidTimeFor(-1, 12345, ns100, NOW_MS)).toBe(0);
  });

  it("0xFFFFFFFE (or -2) keeps the current void time, including 'never'; a new record gets the default", () => {
    expect(voidTimeFor(TTL_DONT_UPDATE, 12345, ns100, NOW_MS)).toBe(12345);
    expect(voidTimeFor(TTL_DONT_UPDATE, 0, ns100, NOW_MS)).toBe(0);
    expect(voidTimeFor(-2, 12345, ns0, NOW_MS)).toBe(12345);
    expect(voidTimeFor(TTL_DONT_UPDATE, undefined, ns100, NOW_MS)).toBe(NOW_CL + 100);
    expect(voidTimeFor(TTL_DONT_UPDATE, undefined, ns0, NOW_MS)).toBe(0);
  });

  it("an explicit N sets now + N seconds", () => {
    expect(voidTimeFor(60, undefined, ns0, NOW_MS)).toBe(NOW_CL + 60);
    expect(voidTimeFor(1, 12345, ns100, NOW_MS)).toBe(NOW_CL + 1);
  });

  it("applyWrite stores and replies the void time from the header TTL", () => {
    const ttl = (t: number, existing?: StoredRecord, cfg = ns0) =>
      ok(applyWrite(existing, wcmd([write("a", 1)], { recordTtl: t }), cfg, NOW_MS));
    const old = rec({ a: 0 }, { voidTime: NOW_CL + 5 });
    expect(ttl(60).voidTime).toBe(NOW_CL + 60);
    expect(ttl(60).record!.voidTime).toBe(NOW_CL + 60);
    expect(ttl(0, old).voidTime).toBe(0);
    expect(ttl(0, old, ns100).voidTime).toBe(NOW_CL + 100);
    expect(ttl(TTL_NEVER_EXPIRE, old, ns100).record!.voidTime).toBe(0);
    expect(ttl(TTL_DONT_UPDATE, old, ns100).record!.voidTime).toBe(NOW_CL + 5);
    expect(ttl(TTL_DONT_UPDATE, undefined, ns100).record!.voidTime).toBe(NOW_CL + 100);
  });
});

// ---------------------------------------------------------------------------------------------
// Bin writes and deletes
// ---------------------------------------------------------------------------------------------

describe("bin deletes and empty records (§4 WRITE with particle NULL deletes the bin; write.c: no bins left → delete the record; no bins on a created record → 2)", () => {
  it("writing nil removes that bin and keeps the others", () => {
    const o = put(rec({ a: 1, b: 2 }), { a: null });
    expect(o.change).toBe("put");
    expect(binsOf(o.record!.bins)).toEqual({ b: 2n });
  });

  it("writing nil to a bin that is not there leaves the bins as they were (still a write)", () => {
    const o = put(rec({ b: 2 }), { a: null });
    expect(binsOf(o.record!.bins)).toEqual({ b: 2n });
    expect(o.generation).toBe(2);
  });

  it("a write that leaves no bins deletes the record; the reply has generation 0 and void time 0", () => {
    const o = put(rec({ a: 1 }, { generation: 9, voidTime: NOW_CL + 50 }), { a: null });
    expect(o.change).toBe("delete");
    expect(o.record).toBeUndefined();
    expect(o.generation).toBe(0);
    expect(o.voidTime).toBe(0);
  });

  it("a write that would create a record with no bins is NOT_FOUND (2)", () => {
    expect(code(applyWrite(undefined, wcmd([write("a", null)]), CFG, NOW_MS))).toBe(ResultCode.NOT_FOUND);
    expect(code(applyWrite(undefined, wcmd([write("a", 1), write("a", null)]), CFG, NOW_MS))).toBe(ResultCode.NOT_FOUND);
  });

  it("a write with no ops is a PARAMETER error (4)", () => {
    expect(code(applyWrite(rec({ a: 1 }), wcmd([]), CFG, NOW_MS))).toBe(ResultCode.PARAMETER);
  });

  it("every storable particle type is written byte for byte", () => {
    const values: BinValue[] = [5, -1n, new Double(2), "héllo", Buffer.from([1, 2, 3]), true, [1, "a"], { k: 1 }];
    const o = ok(applyWrite(undefined, wcmd(values.map((v, i) => write(`b${i}`, v))), CFG, NOW_MS));
    expect(o.record!.bins.map((b) => [b.name, b.type, b.data.toString("hex")]))
      .toEqual(values.map((v, i) => { const p = encodeParticle(v); return [`b${i}`, p.type, p.data.toString("hex")]; }));
  });
});

describe("touch (§4 TOUCH: must not create → 2 on a missing record; bumps the generation and resets the TTL, bins unchanged)", () => {
  it("touch on a missing record is NOT_FOUND (2)", () => {
    expect(code(applyWrite(undefined, wcmd([touch()]), CFG, NOW_MS))).toBe(ResultCode.NOT_FOUND);
    expect(code(applyWrite(undefined, wcmd([write("a", 1), touch()]), CFG, NOW_MS))).toBe(ResultCode.NOT_FOUND);
  });

  it("touch on a missing record is NOT_FOUND even with a generation expectation (must-not-create is checked first)", () => {
    const o = applyWrite(undefined, wcmd([touch()], { info2: Info2.WRITE | Info2.GENERATION, generation: 3 }), CFG, NOW_MS);
    expect(code(o)).toBe(ResultCode.NOT_FOUND);
  });

  it("touch bumps the generation, resets the TTL from the header and keeps the bins", () => {
    const r = rec({ a: 1, s: "x" }, { generation: 4, voidTime: NOW_CL + 5 });
    const o = ok(applyWrite(r, wcmd([touch()], { recordTtl: 3600 }), CFG, NOW_MS));
    expect(o.change).toBe("put");
    expect(o.generation).toBe(5);
    expect(o.voidTime).toBe(NOW_CL + 3600);
    expect(binsOf(o.record!.bins)).toEqual({ a: 1n, s: "x" });
    expect(o.bins).toEqual([]);
    const keep = ok(applyWrite(r, wcmd([touch()], { recordTtl: TTL_DONT_UPDATE }), CFG, NOW_MS));
    expect(keep.voidTime).toBe(NOW_CL + 5);
    expect(keep.generation).toBe(5);
  });
});

// ---------------------------------------------------------------------------------------------
// Modify ops
// ---------------------------------------------------------------------------------------------

describe("add / INCR (particle_integer.c / particle_float.c: int+int wraps at 64 bits, double+double; missing bin is created; other types → 12)", () => {
  it("adds integers, including negative increments", () => {
    const o = ok(applyWrite(rec({ n: 40 }), wcmd([add("n", 2), add("n", -50)]), CFG, NOW_MS));
    expect(binsOf(o.record!.bins)).toEqual({ n: -8n });
  });

  it("integer add wraps around at 64 bits", () => {
    const up = ok(applyWrite(rec({ n: INT64_MAX }), wcmd([add("n", 1)]), CFG, NOW_MS));
    expect(binsOf(up.record!.bins).n).toBe(INT64_MIN);
    const down = ok(applyWrite(rec({ n: INT64_MIN }), wcmd([add("n", -2)]), CFG, NOW_MS));
    expect(binsOf(down.record!.bins).n).toBe(INT64_MAX - 1n);
  });

  it("adds doubles and the bin stays a double even when the sum is integral", () => {
    const o = ok(applyWrite(rec({ d: new Double(1.5) }), wcmd([add("d", new Double(2.5))]), CFG, NOW_MS));
    const d = o.record!.bins.find((b) => b.name === "d")!;
    expect(d.type).toBe(ParticleType.DOUBLE);
    expect(d.data.readDoubleBE(0)).toBe(4);
  });

  it("add to a missing bin creates it with the increment (and creates a missing record)", () => {
    const o = ok(applyWrite(rec({ a: "x" }), wcmd([add("n", 5), add("d", 0.25)]), CFG, NOW_MS));
    expect(binsOf(o.record!.bins)).toEqual({ a: "x", n: 5n, d: new Double(0.25) });
    const created = ok(applyWrite(undefined, wcmd([add("n", 7)]), CFG, NOW_MS));
    expect(created.generation).toBe(1);
    expect(binsOf(created.record!.bins)).toEqual({ n: 7n });
  });

  it("add of an integer to a string bin, or across int/double, is INCOMPATIBLE_TYPE (12)", () => {
    expect(code(applyWrite(rec({ s: "x" }), wcmd([add("s", 1)]), CFG, NOW_MS))).toBe(ResultCode.INCOMPATIBLE_TYPE);
    expect(code(applyWrite(rec({ n: 1 }), wcmd([add("n", 0.5)]), CFG, NOW_MS))).toBe(ResultCode.INCOMPATIBLE_TYPE);
    expect(code(applyWrite(rec({ d: 0.5 }), wcmd([add("d", 1)]), CFG, NOW_MS))).toBe(ResultCode.INCOMPATIBLE_TYPE);
  });

  it("add with a string or blob value is INCOMPATIBLE_TYPE (12), on an existing or a missing bin", () => {
    expect(code(applyWrite(rec({ n: 1 }), wcmd([add("n", "1")]), CFG, NOW_MS))).toBe(ResultCode.INCOMPATIBLE_TYPE);
    expect(code(applyWrite(rec({ n: 1 }), wcmd([add("m", "1")]), CFG, NOW_MS))).toBe(ResultCode.INCOMPATIBLE_TYPE);
    expect(code(applyWrite(undefined, wcmd([add("m", Buffer.from([1]))]), CFG, NOW_MS))).toBe(ResultCode.INCOMPATIBLE_TYPE);
  });

  it("a failing op aborts the whole command: earlier ops are not applied", () => {
    const o = applyWrite(rec({ n: 1, s: "x" }), wcmd([add("n", 1), write("z", 1), add("s", 1)]), CFG, NOW_MS);
    expect(code(o)).toBe(ResultCode.INCOMPATIBLE_TYPE);
  });
});

describe("append / prepend (particle_string.c / particle_blob.c concat: same type string or blob; missing bin is created; mismatch → 12)", () => {
  it("appends and prepends strings", () => {
    const o = ok(applyWrite(rec({ s: "cd" }), wcmd([append("s", "ef"), prepend("s", "ab")]), CFG, NOW_MS));
    expect(binsOf(o.record!.bins)).toEqual({ s: "abcdef" });
  });

  it("appends and prepends blobs", () => {
    const o = ok(applyWrite(rec({ b: Buffer.from([2]) }), wcmd([append("b", Buffer.from([3, 4])), prepend("b", Buffer.from([1]))]), CFG, NOW_MS));
    const b = o.record!.bins[0]!;
    expect(b.type).toBe(ParticleType.BLOB);
    expect([...b.data]).toEqual([1, 2, 3, 4]);
  });

  it("append/prepend to a missing bin creates it", () => {
    const o = ok(applyWrite(undefined, wcmd([append("s", "x"), prepend("t", Buffer.from([9]))]), CFG, NOW_MS));
    expect(binsOf(o.record!.bins)).toEqual({ s: "x", t: "0x09" });
  });

  it("string onto a blob, blob onto a string, or anything onto an integer is INCOMPATIBLE_TYPE (12)", () => {
    expect(code(applyWrite(rec({ b: Buffer.from([1]) }), wcmd([append("b", "x")]), CFG, NOW_MS))).toBe(ResultCode.INCOMPATIBLE_TYPE);
    expect(code(applyWrite(rec({ s: "x" }), wcmd([prepend("s", Buffer.from([1]))]), CFG, NOW_MS))).toBe(ResultCode.INCOMPATIBLE_TYPE);
    expect(code(applyWrite(rec({ n: 1 }), wcmd([append("n", "x")]), CFG, NOW_MS))).toBe(ResultCode.INCOMPATIBLE_TYPE);
  });

  it("append/prepend with an integer or double value is INCOMPATIBLE_TYPE (12)", () => {
    expect(code(applyWrite(rec({ s: "x" }), wcmd([append("s", 1)]), CFG, NOW_MS))).toBe(ResultCode.INCOMPATIBLE_TYPE);
    expect(code(applyWrite(rec({ s: "x" }), wcmd([prepend("s", 1.5)]), CFG, NOW_MS))).toBe(ResultCode.INCOMPATIBLE_TYPE);
    expect(code(applyWrite(undefined, wcmd([append("s", 1)]), CFG, NOW_MS))).toBe(ResultCode.INCOMPATIBLE_TYPE);
  });
});

describe("delete op inside operate (§4 DELETE / SRV DELETE_ALL: removes all bins; the record is deleted unless ops after it write bins)", () => {
  it("[delete] on an existing record deletes it", () => {
    const o = ok(applyWrite(rec({ a: 1, b: 2 }), wcmd([deleteAll()]), CFG, NOW_MS));
    expect(o.change).toBe("delete");
    expect(o.generation).toBe(0);
  });

  it("[delete, write c] leaves only c, as a write (generation bumps)", () => {
    const o = ok(applyWrite(rec({ a: 1, b: 2 }, { generation: 3 }), wcmd([deleteAll(), write("c", 1)]), CFG, NOW_MS));
    expect(o.change).toBe("put");
    expect(binsOf(o.record!.bins)).toEqual({ c: 1n });
    expect(o.generation).toBe(4);
  });

  it("[write c, delete] deletes the record", () => {
    const o = ok(applyWrite(rec({ a: 1 }), wcmd([write("c", 1), deleteAll()]), CFG, NOW_MS));
    expect(o.change).toBe("delete");
  });

  it("[delete] on a missing record is NOT_FOUND (2)", () => {
    expect(code(applyWrite(undefined, wcmd([deleteAll()]), CFG, NOW_MS))).toBe(ResultCode.NOT_FOUND);
  });

  it("a read before the delete still returns the bins in the reply of the deleting command", () => {
    const o = ok(applyWrite(rec({ a: 1 }), wcmd([read("a"), deleteAll()], { info1: Info1.READ }), CFG, NOW_MS));
    expect(o.change).toBe("delete");
    expect(replyOf(o)).toEqual([["a", ParticleType.INTEGER, 1n]]);
    expect(o.generation).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Reads inside operate, RESPOND_ALL_OPS
// ---------------------------------------------------------------------------------------------

describe("operate reads and RESPOND_ALL_OPS (write.c write_master_bin_ops_loop: ops in order, reads see earlier writes; respond-all gives one entry per op, NULL for writes and missing bins; touch gives none)", () => {
  const existing = rec({ n: 1, s: "a" });
  const RW = Info1.READ;

  it("reads see the writes before them and only reads produce reply entries", () => {
    const o = ok(applyWrite(existing, wcmd([read("n"), add("n", 5), read("n"), write("t", "x"), read("t"), append("s", "b"), read("s")], { info1: RW }), CFG, NOW_MS));
    expect(replyOf(o)).toEqual([
      ["n", ParticleType.INTEGER, 1n],
      ["n", ParticleType.INTEGER, 6n],
      ["t", ParticleType.STRING, "x"],
      ["s", ParticleType.STRING, "ab"],
    ]);
    expect(binsOf(o.record!.bins)).toEqual({ n: 6n, s: "ab", t: "x" });
  });

  it("without respond-all a read of a missing bin gives no entry; a write-only command replies no bins", () => {
    const o = ok(applyWrite(existing, wcmd([write("x", 1), read("nope")], { info1: RW }), CFG, NOW_MS));
    expect(o.bins).toEqual([]);
    expect(ok(applyWrite(existing, wcmd([write("x", 1), add("n", 1)]), CFG, NOW_MS)).bins).toEqual([]);
  });

  it("a read with an empty name returns every bin as it is at that point", () => {
    const o = ok(applyWrite(existing, wcmd([write("n", 9), read("")], { info1: RW | Info1.GET_ALL }), CFG, NOW_MS));
    expect(binsOf(o.bins)).toEqual({ n: 9n, s: "a" });
  });

  it("RESPOND_ALL_OPS gives one entry per op in order: NULL particles for writes, values for reads, NULL for a missing bin", () => {
    const ops = [write("n", 2), read("n"), add("n", 3), append("s", "z"), prepend("s", "y"), read("s"), read("nope"), write("x", null), deleteAll(), write("k", 1)];
    const o = ok(applyWrite(existing, wcmd(ops, { info1: RW, info2: Info2.WRITE | Info2.RESPOND_ALL_OPS }), CFG, NOW_MS));
    expect(replyOf(o)).toEqual([
      ["n", ParticleType.NULL, null],
      ["n", ParticleType.INTEGER, 2n],
      ["n", ParticleType.NULL, null],
      ["s", ParticleType.NULL, null],
      ["s", ParticleType.NULL, null],
      ["s", ParticleType.STRING, "yaz"],
      ["nope", ParticleType.NULL, null],
      ["x", ParticleType.NULL, null],
      ["", ParticleType.NULL, null],
      ["k", ParticleType.NULL, null],
    ]);
    expect(o.bins).toHaveLength(ops.length);
    for (const b of o.bins) if (b.type === ParticleType.NULL) expect(b.data.length).toBe(0);
    expect(binsOf(o.record!.bins)).toEqual({ k: 1n });
  });

  it("RESPOND_ALL_OPS gives no entry for a touch (the server's op loop skips touch before building replies)", () => {
    const o = ok(applyWrite(existing, wcmd([touch(), read("n")], { info1: RW, info2: Info2.WRITE | Info2.RESPOND_ALL_OPS }), CFG, NOW_MS));
    expect(replyOf(o)).toEqual([["n", ParticleType.INTEGER, 1n]]);
  });
});

// ---------------------------------------------------------------------------------------------
// applyRead
// ---------------------------------------------------------------------------------------------

describe("applyRead (read.c read_local: GET_ALL → every bin; GET_NOBINDATA → header only; named bins → the ones that exist; missing record → 2)", () => {
  const existing = rec({ a: 1, b: "two", c: Buffer.from([3]) }, { generation: 12, voidTime: NOW_CL + 77 });

  it("GET_ALL returns every bin with generation and void time, and changes nothing", () => {
    const o = ok(applyRead(existing, rcmd([], { info1: Info1.READ | Info1.GET_ALL })));
    expect(o.change).toBe("none");
    expect(o.record).toBe(existing);
    expect(binsOf(o.bins)).toEqual({ a: 1n, b: "two", c: "0x03" });
    expect(o.generation).toBe(12);
    expect(o.voidTime).toBe(NOW_CL + 77);
  });

  it("NOBINDATA (exists / getHeader) returns generation and void time but no bins", () => {
    const o = ok(applyRead(existing, rcmd([], { info1: Info1.READ | Info1.NOBINDATA })));
    expect(o.bins).toEqual([]);
    expect(o.generation).toBe(12);
    expect(o.voidTime).toBe(NOW_CL + 77);
    expect(ok(applyRead(existing, rcmd([], { info1: Info1.READ | Info1.GET_ALL | Info1.NOBINDATA }))).bins).toEqual([]);
  });

  it("named bins return only those that exist, in request order; none existing → ok with no bins", () => {
    const o = ok(applyRead(existing, rcmd([read("c"), read("zz"), read("a")])));
    expect(replyOf(o)).toEqual([["c", ParticleType.BLOB, "0x03"], ["a", ParticleType.INTEGER, 1n]]);
    const none = ok(applyRead(existing, rcmd([read("x"), read("y")])));
    expect(none.bins).toEqual([]);
    expect(none.generation).toBe(12);
  });

  it("with RESPOND_ALL_OPS a read of a missing bin gives a NULL entry (read.c: b || respond_all_ops)", () => {
    const o = ok(applyRead(existing, rcmd([read("a"), read("zz")], { info2: Info2.RESPOND_ALL_OPS })));
    expect(replyOf(o)).toEqual([["a", ParticleType.INTEGER, 1n], ["zz", ParticleType.NULL, null]]);
  });

  it("a read of a missing record is NOT_FOUND (2), whatever the flags", () => {
    expect(code(applyRead(undefined, rcmd([], { info1: Info1.READ | Info1.GET_ALL })))).toBe(ResultCode.NOT_FOUND);
    expect(code(applyRead(undefined, rcmd([], { info1: Info1.READ | Info1.NOBINDATA })))).toBe(ResultCode.NOT_FOUND);
    expect(code(applyRead(undefined, rcmd([read("a")])))).toBe(ResultCode.NOT_FOUND);
  });

  it("a CDT/bit/HLL/expression read is UNSUPPORTED_FEATURE (16); a non-read op is PARAMETER (4)", () => {
    for (const op of [OpType.CDT_READ, OpType.BITS_READ, OpType.HLL_READ, OpType.EXP_READ]) {
      expect(code(applyRead(existing, rcmd([rawOp(op, ParticleType.BLOB, "a", Buffer.from([0x91, 0]))])))).toBe(ResultCode.UNSUPPORTED_FEATURE);
    }
    expect(code(applyRead(existing, rcmd([rawOp(6, ParticleType.NULL, "a", EMPTY)])))).toBe(ResultCode.PARAMETER);
  });
});

// ---------------------------------------------------------------------------------------------
// Parameter errors and limits
// ---------------------------------------------------------------------------------------------

describe("unknown and unsupported ops (write.c: unknown bin op → 4; shoal answers CDT/bit/HLL/expression ops with 16 until it implements them)", () => {
  it("unknown op codes are PARAMETER (4)", () => {
    for (const op of [0, 6, 17, 99, 255]) {
      expect(code(applyWrite(rec({ a: 1 }), wcmd([rawOp(op, ParticleType.INTEGER, "a", encodeParticle(1).data)]), CFG, NOW_MS))).toBe(ResultCode.PARAMETER);
    }
  });

  it("CDT, bit, HLL and expression ops are UNSUPPORTED_FEATURE (16), read or modify", () => {
    const ops = [OpType.CDT_READ, OpType.CDT_MODIFY, OpType.BITS_READ, OpType.BITS_MODIFY, OpType.HLL_READ, OpType.HLL_MODIFY, OpType.EXP_READ, OpType.EXP_MODIFY];
    for (const op of ops) {
      const o = applyWrite(rec({ l: [1] }), wcmd([rawOp(op, ParticleType.BLOB, "l", Buffer.from([0x93, 0, 1, 2]))], { info1: Info1.READ }), CFG, NOW_MS);
      expect(code(o)).toBe(ResultCode.UNSUPPORTED_FEATURE);
    }
  });
});

describe("bin names (§4 and write.c: at most 15 bytes of UTF-8, longer → BIN_NAME 21; shoal rejects an empty name in a bin-writing op with PARAMETER 4)", () => {
  const fifteen = "abcdefghijklmno";

  it("15 bytes is fine, 16 bytes is BIN_NAME (21), for write, add, append and prepend", () => {
    expect(binsOf(put(undefined, { [fifteen]: 1 }).record!.bins)).toEqual({ [fifteen]: 1n });
    for (const mk of [(n: string) => write(n, 1), (n: string) => add(n, 1), (n: string) => append(n, "x"), (n: string) => prepend(n, "x")]) {
      expect(code(applyWrite(undefined, wcmd([mk(fifteen + "p")]), CFG, NOW_MS))).toBe(ResultCode.BIN_NAME);
    }
  });

  it("the limit counts UTF-8 bytes, not characters", () => {
    expect(code(applyWrite(undefined, wcmd([write("é".repeat(7) + "a", 1)]), CFG, NOW_MS))).toBe(ResultCode.OK);
    expect(code(applyWrite(undefined, wcmd([write("é".repeat(8), 1)]), CFG, NOW_MS))).toBe(ResultCode.BIN_NAME);
  });

  it("an empty bin name in write/add/append/prepend is PARAMETER (4)", () => {
    for (const op of [write("", 1), add("", 1), append("", "x"), prepend("", "x")]) {
      expect(code(applyWrite(rec({ a: 1 }), wcmd([op]), CFG, NOW_MS))).toBe(ResultCode.PARAMETER);
    }
  });
});

describe("particle sizes and types (§4 particle encodings: INTEGER and DOUBLE are 8 bytes, BOOL 1; anything else or an unknown type → PARAMETER 4)", () => {
  it("an integer of 7 or 9 bytes is PARAMETER (4), in a write and in an add", () => {
    for (const n of [0, 7, 9]) {
      expect(code(applyWrite(undefined, wcmd([rawOp(OpType.WRITE, ParticleType.INTEGER, "a", Buffer.alloc(n))]), CFG, NOW_MS))).toBe(ResultCode.PARAMETER);
      expect(code(applyWrite(rec({ a: 1 }), wcmd([rawOp(OpType.ADD, ParticleType.INTEGER, "a", Buffer.alloc(n))]), CFG, NOW_MS))).toBe(ResultCode.PARAMETER);
    }
  });

  it("a double that is not 8 bytes, or a bool that is not 1 byte, is PARAMETER (4)", () => {
    expect(code(applyWrite(undefined, wcmd([rawOp(OpType.WRITE, ParticleType.DOUBLE, "a", Buffer.alloc(4))]), CFG, NOW_MS))).toBe(ResultCode.PARAMETER);
    expect(code(applyWrite(rec({ d: 0.5 }), wcmd([rawOp(OpType.ADD, ParticleType.DOUBLE, "d", Buffer.alloc(7))]), CFG, NOW_MS))).toBe(ResultCode.PARAMETER);
    expect(code(applyWrite(undefined, wcmd([rawOp(OpType.WRITE, ParticleType.BOOL, "a", Buffer.alloc(2))]), CFG, NOW_MS))).toBe(ResultCode.PARAMETER);
  });

  it("an unknown particle type is PARAMETER (4)", () => {
    for (const t of [5, 6, 13, 16, 21, 22, 99]) {
      expect(code(applyWrite(undefined, wcmd([rawOp(OpType.WRITE, t, "a", Buffer.from([1]))]), CFG, NOW_MS))).toBe(ResultCode.PARAMETER);
    }
  });
});

describe("record size (§12: max record size per namespace, too large → RECORD_TOO_BIG 13; counted as stored: overhead + set + key + names + data + 2 per bin)", () => {
  it("recordBytes counts overhead, set name, user key and each bin", () => {
    const r = rec({ ab: "xyz", n: 1 }, { setName: "set", userKey: { type: ParticleType.STRING, data: Buffer.from("key1") } });
    expect(recordBytes(r)).toBe(RECORD_OVERHEAD_BYTES + 3 + (4 + 1) + (2 + 3 + 2) + (1 + 8 + 2));
    expect(recordBytes({ bins: [], setName: "", userKey: undefined })).toBe(RECORD_OVERHEAD_BYTES);
  });

  it("a record exactly at the limit is stored; one byte over is RECORD_TOO_BIG (13)", () => {
    const value = "v".repeat(100);
    const size = recordBytes({ bins: [bin("a", value)], setName: "s", userKey: undefined });
    const at: RecordRulesConfig = { defaultTtlSec: 0, recordBytesMax: size };
    const below: RecordRulesConfig = { defaultTtlSec: 0, recordBytesMax: size - 1 };
    expect(code(applyWrite(undefined, wcmd([write("a", value)]), at, NOW_MS))).toBe(ResultCode.OK);
    const o = applyWrite(undefined, wcmd([write("a", value)]), below, NOW_MS);
    expect(code(o)).toBe(ResultCode.RECORD_TOO_BIG);
  });

  it("growth of an existing record is counted too (append past the limit → 13)", () => {
    const r = rec({ a: "x".repeat(50) });
    const cfg: RecordRulesConfig = { defaultTtlSec: 0, recordBytesMax: recordBytes(r) + 10 };
    expect(code(applyWrite(r, wcmd([append("a", "y".repeat(10))]), cfg, NOW_MS))).toBe(ResultCode.OK);
    expect(code(applyWrite(r, wcmd([append("a", "y".repeat(11))]), cfg, NOW_MS))).toBe(ResultCode.RECORD_TOO_BIG);
  });
});

describe("stored key and set (write.c handle_msg_key / set_set_from_msg: a sent key is stored; a stored key is kept when later writes do not send it; the set is fixed at creation)", () => {
  const key = { type: ParticleType.STRING, data: Buffer.from("user-1") };

  it("a key sent with the write is stored", () => {
    const o = put(undefined, { a: 1 }, { userKey: key });
    expect(o.record!.userKey).toEqual(key);
  });

  it("no key sent → none stored; an existing stored key is kept when the key is not resent", () => {
    expect(put(undefined, { a: 1 }).record!.userKey).toBeUndefined();
    const o = put(rec({ a: 1 }, { userKey: key }), { a: 2 });
    expect(o.record!.userKey).toEqual(key);
  });

  it("the set name comes from the creating write and is kept afterwards", () => {
    expect(put(undefined, { a: 1 }, { setName: "users" }).record!.setName).toBe("users");
    expect(put(rec({ a: 1 }, { setName: "users" }), { a: 2 }, { setName: "" }).record!.setName).toBe("users");
  });
});

describe("applyDelete (delete.c: missing record → 2; generation checks as for writes; success replies generation 0 and void time 0)", () => {
  const existing = rec({ a: 1 }, { generation: 5, voidTime: NOW_CL + 10 });

  it("deleting a missing record is NOT_FOUND (2)", () => {
    expect(code(applyDelete(undefined, dcmd()))).toBe(ResultCode.NOT_FOUND);
    expect(code(applyDelete(undefined, dcmd({ info2: Info2.WRITE | Info2.DELETE | Info2.GENERATION, generation: 0 })))).toBe(ResultCode.NOT_FOUND);
  });

  it("deleting an existing record asks for a store delete and replies generation 0, void time 0, no bins", () => {
    expect(applyDelete(existing, dcmd())).toEqual({ kind: "ok", change: "delete", bins: [], generation: 0, voidTime: 0 });
  });

  it("a generation mismatch is GENERATION (3); a match deletes", () => {
    const eq = (g: number) => dcmd({ info2: Info2.WRITE | Info2.DELETE | Info2.GENERATION, generation: g });
    expect(code(applyDelete(existing, eq(4)))).toBe(ResultCode.GENERATION);
    expect(code(applyDelete(existing, eq(6)))).toBe(ResultCode.GENERATION);
    expect(ok(applyDelete(existing, eq(5))).change).toBe("delete");
    const gt = (g: number) => dcmd({ info2: Info2.WRITE | Info2.DELETE | Info2.GENERATION_GT, generation: g });
    expect(code(applyDelete(existing, gt(5)))).toBe(ResultCode.GENERATION);
    expect(ok(applyDelete(existing, gt(6))).change).toBe("delete");
  });
});

// ---------------------------------------------------------------------------------------------
// Model test
// ---------------------------------------------------------------------------------------------

/** The naive model: a record is a Map of bin → bigint | string plus a generation; undefined = missing. */
interface ModelRecord {
  bins: Map<string, bigint | string>;
  generation: number;
}

type Cmd =
  | { t: "put"; bins: [string, bigint | string | null][] }
  | { t: "add"; name: string; by: bigint }
  | { t: "append"; name: string; s: string }
  | { t: "delete" }
  | { t: "touch" };

interface Step {
  cmd: Cmd;
  /** Generation expectation: none, or EQ/GT against the model's generation + delta. */
  gen: { kind: "eq" | "gt"; delta: number } | null;
  /** Clock movement before this step (may be negative). */
  dtMs: number;
}

const NAMES = ["a", "b", "c", "d"];
const nameArb = fc.constantFrom(...NAMES);
const intArb = fc.oneof(fc.bigInt({ min: -1000n, max: 1000n }), fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), fc.constantFrom(INT64_MAX, INT64_MIN, -1n));
const strArb = fc.string({ maxLength: 4 });
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant("put" as const), bins: fc.array(fc.tuple(nameArb, fc.oneof(intArb, strArb, fc.constant(null))), { minLength: 1, maxLength: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("add" as const), name: nameArb, by: intArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("append" as const), name: nameArb, s: strArb }) },
  { weight: 1, arbitrary: fc.constant({ t: "delete" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "touch" as const }) },
);
const stepArb: fc.Arbitrary<Step> = fc.record({
  cmd: cmdArb,
  gen: fc.option(fc.record({ kind: fc.constantFrom("eq" as const, "gt" as const), delta: fc.constantFrom(-1, 0, 1) }), { freq: 4 }),
  dtMs: fc.integer({ min: -5000, max: 5000 }),
});
const startArb: fc.Arbitrary<ModelRecord | undefined> = fc.option(
  fc.record({
    bins: fc.array(fc.tuple(nameArb, fc.oneof(intArb, strArb)), { minLength: 1, maxLength: 4 }).map((e) => new Map(e)),
    generation: fc.oneof(fc.constantFrom(1, 65533, 65534, 65535), fc.integer({ min: 1, max: 65535 })),
  }),
  { freq: 3, nil: undefined },
);

function toOps(cmd: Cmd): Op[] {
  switch (cmd.t) {
    case "put": return cmd.bins.map(([n, v]) => write(n, v));
    case "add": return [add(cmd.name, cmd.by)];
    case "append": return [append(cmd.name, cmd.s)];
    case "touch": return [touch()];
    case "delete": return [];
  }
}

/** What Aerospike would answer, and the record afterwards (model side). */
function modelApply(m: ModelRecord | undefined, step: Step): { code: number; next: ModelRecord | undefined } {
  const current = m?.generation ?? 0;
  const { cmd } = step;
  if (cmd.t === "delete" || cmd.t === "touch") {
    if (!m) return { code: ResultCode.NOT_FOUND, next: m };
  }
  if (step.gen) {
    const expected = Math.max(0, current + step.gen.delta); // the wire field is a u32
    const pass = step.gen.kind === "eq" ? expected === current : expected > current;
    if (!pass) return { code: ResultCode.GENERATION, next: m };
  }
  if (cmd.t === "delete") return { code: ResultCode.OK, next: undefined };
  const bins = new Map(m?.bins ?? []);
  switch (cmd.t) {
    case "put":
      for (const [n, v] of cmd.bins) {
        if (v === null) bins.delete(n);
        else bins.set(n, v);
      }
      break;
    case "add": {
      const cur = bins.get(cmd.name);
      if (typeof cur === "string") return { code: ResultCode.INCOMPATIBLE_TYPE, next: m };
      bins.set(cmd.name, BigInt.asIntN(64, (cur ?? 0n) + cmd.by));
      break;
    }
    case "append": {
      const cur = bins.get(cmd.name);
      if (typeof cur === "bigint") return { code: ResultCode.INCOMPATIBLE_TYPE, next: m };
      bins.set(cmd.name, (cur ?? "") + cmd.s);
      break;
    }
    case "touch":
      break;
  }
  if (bins.size === 0) return m ? { code: ResultCode.OK, next: undefined } : { code: ResultCode.NOT_FOUND, next: m };
  return { code: ResultCode.OK, next: { bins, generation: m ? (m.generation % 65535) + 1 : 1 } };
}

function modelToStored(m: ModelRecord): StoredRecord {
  return { generation: m.generation, lastUpdateMs: NOW_MS, voidTime: 0, setName: "s", bins: [...m.bins].map(([n, v]) => bin(n, v)) };
}

function storedView(r: StoredRecord | undefined): { bins: Record<string, bigint | string>; generation: number } | undefined {
  if (!r) return undefined;
  const bins: Record<string, bigint | string> = {};
  for (const b of r.bins) {
    expect([ParticleType.INTEGER, ParticleType.STRING]).toContain(b.type);
    bins[b.name] = b.type === ParticleType.INTEGER ? b.data.readBigInt64BE(0) : b.data.toString("utf8");
  }
  return { bins, generation: r.generation };
}

function modelView(m: ModelRecord | undefined): { bins: Record<string, bigint | string>; generation: number } | undefined {
  return m && { bins: Object.fromEntries(m.bins), generation: m.generation };
}

describe("model: random put/add/append/delete/touch sequences match a Map-of-bins model", () => {
  it("bin contents, result codes and generation counting agree step by step", () => {
    fc.assert(
      fc.property(startArb, fc.array(stepArb, { maxLength: 40 }), (start, steps) => {
        let model = start;
        let record = start && modelToStored(start);
        let now = NOW_MS;
        for (const step of steps) {
          now += step.dtMs;
          const gen = step.gen && { info2: step.gen.kind === "eq" ? Info2.GENERATION : Info2.GENERATION_GT, generation: Math.max(0, (model?.generation ?? 0) + step.gen.delta) };
          const outcome = step.cmd.t === "delete"
            ? applyDelete(record, dcmd(gen ? { info2: Info2.WRITE | Info2.DELETE | gen.info2, generation: gen.generation } : {}))
            : applyWrite(record, wcmd(toOps(step.cmd), gen ? { info2: Info2.WRITE | gen.info2, generation: gen.generation } : {}), CFG, now);
          const expected = modelApply(model, step);
          expect(code(outcome)).toBe(expected.code);
          if (outcome.kind === "ok") {
            if (outcome.change === "put") {
              expect(outcome.record).toBeDefined();
              expect(outcome.generation).toBe(outcome.record!.generation);
              expect(outcome.record!.lastUpdateMs).toBeGreaterThan(record?.lastUpdateMs ?? -Infinity);
              expect(outcome.record!.lastUpdateMs).toBeGreaterThanOrEqual(now);
              record = outcome.record;
            } else {
              expect(outcome.change).toBe("delete");
              expect(outcome.generation).toBe(0);
              record = undefined;
            }
          }
          model = expected.next;
          expect(storedView(record)).toEqual(modelView(model));
        }
      }),
      { numRuns: 300 },
    );
  });
});
