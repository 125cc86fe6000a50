/**
 * Goal: the client builds exactly the requests the official C/Node client builds (protocol
 * reference §2, §6, §13) and reads replies the same way.
 * Method: pure builders checked byte for byte against the captured §13 frames, then header bits
 * per command and policy, then reply parsing (TTL conversion, operate folding).
 */
import { describe, expect, it } from "vitest";
import { FieldType, Info1, Info2, Info3, OpType, encodeMessage as encodeMessage_ } from "../../client/protocol/index.js";
import {
  Double, Key, ParameterError, RecordNotFoundError, ResultCode, TimeoutError, checkResult, defaultOperatePolicy,
  defaultReadPolicy, defaultWritePolicy, existsMessage, getMessage, op, operateAttributes, operateMessage,
  parseRecord, putMessage, removeMessage, resolveOperatePolicy, resolveReadPolicy, resolveWritePolicy, touchMessage,
  ttlFromVoidTime,
} from "../../client/internal.js";

const key = new Key("test", "demo", "k1");
const read = defaultReadPolicy();
const write = defaultWritePolicy();
const operate = defaultOperatePolicy();
const hex = (s: string): string => s.replace(/[\s|]/g, "");
const W = (o: Partial<typeof write>) => resolveWritePolicy(write, o);

describe("captured frames (§13)", () => {
  it("digest and partition of (test, demo, 'k1')", () => {
    expect(key.digest.toString("hex")).toBe("b747f5854d0b33259928d0cfab7fad81d6abfbf6");
    expect(key.partitionId).toBe(1975);
  });

  it("PUT {a: 1} with default policy is the captured 90 bytes", () => {
    const frame = encodeMessage_(putMessage(key, { a: 1 }, undefined, write));
    expect(frame.toString("hex")).toBe(hex(`
      0203000000000052 160001000000 00000000 00000000 000003e8 00030001
      00000005 00 74657374 | 00000005 01 64656d6f
      00000015 04 b747f5854d0b33259928d0cfab7fad81d6abfbf6
      0000000d 02 01 00 01 61 0000000000000001`));
  });

  it("a string bin adds the captured op bytes", () => {
    const frame = encodeMessage_(putMessage(key, { s: "x" }, undefined, write));
    expect(frame.toString("hex").endsWith("000000060203000173" + "78")).toBe(true);
  });

  it("GET is the captured 73 bytes", () => {
    const frame = encodeMessage_(getMessage(key, undefined, read));
    expect(frame.toString("hex")).toBe(hex(`
      0203000000000041 160300000000 00000000 00000000 000003e8 00030000
      00000005 00 74657374 00000005 01 64656d6f 0000001504 b747f5854d0b33259928d0cfab7fad81d6abfbf6`));
  });

  it("operate [incr a 5, read a, touch] with ttl 100", () => {
    const p = resolveOperatePolicy(operate, { ttl: 100 });
    const { msg, isWrite } = operateMessage(key, [op.add("a", 5), op.read("a"), op.touch()], undefined, p);
    expect(isWrite).toBe(true);
    expect([msg.info1, msg.info2, msg.info3, msg.recordTtl, msg.ops.length]).toEqual([0x01, 0x01, 0, 0x64, 3]);
    const frame = encodeMessage_(msg).toString("hex");
    expect(frame.endsWith(hex(`
      0000000d 05 01 00 01 61 0000000000000005
      00000005 01 00 00 01 61
      00000004 0b 00 00 00`))).toBe(true);
  });
});

describe("header bits per command (§6)", () => {
  it("get variants: all bins, named bins, header only", () => {
    expect(getMessage(key, undefined, read).info1).toBe(Info1.READ | Info1.GET_ALL);
    const named = getMessage(key, ["a", "b"], read);
    expect(named.info1).toBe(Info1.READ);
    expect(named.ops.map((o) => [o.op, o.particleType, o.name, o.data.length])).toEqual([[1, 0, "a", 0], [1, 0, "b", 0]]);
    const header = getMessage(key, [], read);
    expect([header.info1, header.ops.length]).toEqual([Info1.READ | Info1.NOBINDATA, 0]);
  });

  it("exists is READ|NOBINDATA (0x21), remove is WRITE|DELETE (0x03)", () => {
    const e = existsMessage(key, read);
    expect([e.info1, e.info2, e.info3, e.recordTtl, e.ops.length]).toEqual([0x21, 0, 0, 0, 0]);
    const r = removeMessage(key, write);
    expect([r.info1, r.info2, r.info3, r.recordTtl, r.ops.length]).toEqual([0, 0x03, 0, 0, 0]);
    expect(removeMessage(key, W({ durableDelete: true })).info2).toBe(Info2.WRITE | Info2.DELETE | Info2.DURABLE_DELETE);
  });

  it("fields: namespace, set (even empty), digest; user key only with sendKey", () => {
    const noSet = new Key("test", null, 7);
    const m = putMessage(noSet, { a: 1 }, undefined, write);
    expect(m.fields.map((f) => [f.type, f.data.length])).toEqual([[FieldType.NAMESPACE, 4], [FieldType.SET, 0], [FieldType.DIGEST, 20]]);
    const withKey = putMessage(noSet, { a: 1 }, undefined, W({ sendKey: true }));
    expect(withKey.fields.map((f) => f.type)).toEqual([0, 1, 4, 2]);
    expect(withKey.fields[3]!.data.toString("hex")).toBe("01" + "0000000000000007");
    expect(putMessage(key, { a: 1 }, undefined, W({ sendKey: true })).fields[3]!.data.toString()).toBe("\x03k1");
  });

  it.each([
    ["ignore", 0x01, 0x00],
    ["update", 0x01, 0x00],
    ["updateOnly", 0x01, Info3.UPDATE_ONLY],
    ["replace", 0x01, Info3.CREATE_OR_REPLACE],
    ["replaceOnly", 0x01, Info3.REPLACE_ONLY],
    ["createOnly", 0x01 | Info2.CREATE_ONLY, 0x00],
  ] as const)("exists %s → info2 %i, info3 %i", (exists, info2, info3) => {
    const m = putMessage(key, { a: 1 }, undefined, W({ exists }));
    expect([m.info2, m.info3]).toEqual([info2, info3]);
  });

  it("generation policies and commit level", () => {
    const eq = putMessage(key, { a: 1 }, { gen: 7 }, W({ generationPolicy: "eq" }));
    expect([eq.info2, eq.generation]).toEqual([Info2.WRITE | Info2.GENERATION, 7]);
    const gt = putMessage(key, { a: 1 }, undefined, W({ generationPolicy: "gt", generation: 9 }));
    expect([gt.info2, gt.generation]).toEqual([Info2.WRITE | Info2.GENERATION_GT, 9]);
    expect(putMessage(key, { a: 1 }, { gen: 7 }, write).generation).toBe(0); // ignored without a policy
    expect(() => putMessage(key, { a: 1 }, undefined, W({ generationPolicy: "eq" }))).toThrow(ParameterError);
    expect(putMessage(key, { a: 1 }, undefined, W({ commitLevel: "master" })).info3).toBe(Info3.COMMIT_MASTER);
  });

  it("ttl sentinels: -1 never, -2 keep, 0 default, meta wins over policy", () => {
    const ttl = (meta: { ttl?: number } | undefined, p = write) => putMessage(key, { a: 1 }, meta, p).recordTtl;
    expect(ttl(undefined)).toBe(0);
    expect(ttl({ ttl: -1 })).toBe(0xffffffff);
    expect(ttl({ ttl: -2 })).toBe(0xfffffffe);
    expect(ttl({ ttl: 3600 })).toBe(3600);
    expect(ttl(undefined, W({ ttl: 60 }))).toBe(60);
    expect(ttl({ ttl: 5 }, W({ ttl: 60 }))).toBe(5);
    expect(() => ttl({ ttl: -3 })).toThrow(ParameterError);
    expect(() => ttl({ ttl: 1.5 })).toThrow(ParameterError);
  });

  it("read-touch percent and transaction_ttl", () => {
    expect(getMessage(key, undefined, resolveReadPolicy(read, { readTouchTtlPercent: 80 })).recordTtl).toBe(80);
    expect(getMessage(key, undefined, resolveReadPolicy(read, { readTouchTtlPercent: -1 })).recordTtl).toBe(0xffffffff);
    expect(getMessage(key, undefined, resolveReadPolicy(read, { totalTimeoutMs: 5000 })).transactionTtl).toBe(5000);
    // C: socket timeout goes on the wire when 0 < socket < total.
    expect(getMessage(key, undefined, resolveReadPolicy(read, { socketTimeoutMs: 200 })).transactionTtl).toBe(200);
    expect(getMessage(key, undefined, resolveReadPolicy(read, { socketTimeoutMs: 5000 })).transactionTtl).toBe(1000);
  });

  it("touch is a write carrying one TOUCH op and the ttl", () => {
    const m = touchMessage(key, 300, write);
    expect([m.info1, m.info2, m.recordTtl]).toEqual([0, Info2.WRITE, 300]);
    expect(m.ops.map((o) => [o.op, o.name, o.particleType, o.data.length])).toEqual([[OpType.TOUCH, "", 0, 0]]);
  });

  it("operate attributes follow C as_operate_set_attr", () => {
    expect(operateAttributes([op.read("a")], false)).toEqual({ info1: Info1.READ, info2: 0 });
    expect(operateAttributes([op.read()], true)).toEqual({ info1: Info1.READ | Info1.GET_ALL, info2: 0 });
    expect(operateAttributes([op.write("a", 1), op.read("a")], true)).toEqual({ info1: Info1.READ, info2: Info2.WRITE | Info2.RESPOND_ALL_OPS });
    expect(operateAttributes([op.readHeader()], false)).toEqual({ info1: Info1.READ | Info1.NOBINDATA, info2: 0 });
    expect(operateAttributes([op.readHeader(), op.read("a")], false)).toEqual({ info1: Info1.READ, info2: 0 });
    expect(operateAttributes([op.delete()], false)).toEqual({ info1: 0, info2: Info2.WRITE });
  });

  it("read-only operate carries read-touch percent, not the ttl; readHeader is not sent", () => {
    const p = resolveOperatePolicy(operate, { ttl: 100, readTouchTtlPercent: 50 });
    const { msg, isWrite } = operateMessage(key, [op.read("a"), op.readHeader()], undefined, p);
    expect([isWrite, msg.recordTtl, msg.ops.length]).toEqual([false, 50, 1]);
  });
});

describe("client-side validation", () => {
  it("bin names over 15 bytes are ParameterError (-2)", () => {
    const long = "a".repeat(16);
    for (const f of [() => op.read(long), () => op.write(long, 1), () => putMessage(key, { [long]: 1 }, undefined, write), () => getMessage(key, [long], read)]) {
      try {
        f();
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ParameterError);
        expect((err as ParameterError).code).toBe(ResultCode.PARAMETER_CLIENT);
      }
    }
    expect(() => op.write("é".repeat(8), 1)).toThrow(ParameterError); // 16 UTF-8 bytes
    expect(op.write("a".repeat(15), 1).bin).toHaveLength(15);
  });

  it("values: undefined rejected, null deletes, add accepts int/bigint/Double", () => {
    expect(() => putMessage(key, { a: undefined as never }, undefined, write)).toThrow(/use null/);
    expect(putMessage(key, { a: null }, undefined, write).ops[0]!.particleType).toBe(0);
    expect(op.add("n", 5).particleType).toBe(1);
    expect(op.add("n", 5n).particleType).toBe(1);
    expect(op.add("n", 1.5).particleType).toBe(2);
    expect(op.add("n", new Double(2)).particleType).toBe(2);
    expect(() => op.add("n", NaN)).toThrow(ParameterError);
    expect(() => op.append("s", 5 as never)).toThrow(ParameterError);
    expect(() => putMessage(key, {}, undefined, write)).toThrow(ParameterError);
    expect(() => operateMessage(key, [], undefined, operate)).toThrow(ParameterError);
  });
});

describe("reply parsing", () => {
  const now = (1262304000 + 1000) * 1000; // 1000 s after the Citrusleaf epoch

  it("void time → ttl: 0 never (-1), future difference, past floor 1", () => {
    expect(ttlFromVoidTime(0, now)).toBe(-1);
    expect(ttlFromVoidTime(1100, now)).toBe(100);
    expect(ttlFromVoidTime(900, now)).toBe(1);
    expect(ttlFromVoidTime(1000, now)).toBe(1);
  });

  it("record bins, generation and ttl; duplicate bin names: last wins (npm aerospike 6.7.1)", () => {
    const int = (v: number) => { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(v)); return b; };
    const msg = {
      info1: 0, info2: 0, info3: 0, info4: 0, resultCode: 0, generation: 4, recordTtl: 1010, transactionTtl: 0, fields: [],
      ops: [
        { op: 1, particleType: 1, name: "a", data: int(1) },
        { op: 1, particleType: 3, name: "s", data: Buffer.from("x") },
        { op: 1, particleType: 1, name: "a", data: int(2) },
        { op: 1, particleType: 1, name: "__proto__", data: int(3) },
      ],
    };
    const rec = parseRecord(key, msg, now);
    expect(rec.generation).toBe(4);
    expect(rec.ttl).toBe(10);
    expect(rec.bins.a).toBe(2);
    expect(rec.bins.s).toBe("x");
    expect(Object.getPrototypeOf(rec.bins)).toBe(Object.prototype);
    expect(Object.keys(rec.bins)).toEqual(["a", "s", "__proto__"]);
  });

  it("result codes become typed errors; server timeout on a write is in doubt", () => {
    const m = (resultCode: number) => ({ ...getMessage(key, undefined, read), resultCode });
    expect(() => checkResult(m(2), false, "n1")).toThrow(RecordNotFoundError);
    try {
      checkResult(m(9), true, "n1");
    } catch (err) {
      expect(err).toBeInstanceOf(TimeoutError);
      expect((err as TimeoutError).inDoubt).toBe(true);
    }
    expect(() => checkResult(m(0), false, "n1")).not.toThrow();
  });
});
