/**
 * Goal: the AS_MSG codec (client/protocol/message.ts) reads and writes exactly the bytes the
 * official client exchanges, round trips any message, and turns every malformed body into a
 * ProtocolError (never a RangeError, never an overread).
 *
 * Method: the frames captured from npm aerospike 6.7.1 (§9 and §13 of the protocol reference) are
 * decoded and compared field by field with the values the reference gives; encodeMessage of those
 * values must reproduce the captured bytes exactly. fast-check generates arbitrary messages
 * (fields and ops with arbitrary data, bin names up to 15 UTF-8 bytes) for decode(encode(m)) == m.
 * Every truncation point of every captured and of random messages, and lying field/op/count/header
 * sizes, must give a ProtocolError.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AsMessage,
  decodeMessage,
  emptyMessage,
  encodeMessage,
  FieldType,
  findField,
  FrameDecoder,
  Info1,
  Info2,
  Info3,
  messageBytes,
  MSG_HEADER_BYTES,
  OpType,
  ParticleType,
  PROTO_HEADER_BYTES,
  ProtocolError,
  readMessage,
  ResultCode,
  writeMessage,
} from "../../client/protocol/index.js";
import {
  BATCH_READ,
  CAPTURED_MSG_FRAMES,
  DIGEST_DEMO_2,
  DIGEST_DEMO_K1,
  EXISTS,
  GET,
  GET_REPLY,
  NOT_FOUND_REPLY,
  OP_S_X,
  OPERATE,
  PUT_A1,
  PUT_REPLY,
  REMOVE,
} from "./fixtures/captured-frames.js";

/** A message with hex data, for readable deep comparisons that never alias buffers. */
interface PlainMessage extends Omit<AsMessage, "fields" | "ops"> {
  fields: { type: number; data: string }[];
  ops: { op: number; particleType: number; name: string; data: string }[];
}

function toPlain(m: AsMessage): PlainMessage {
  return {
    ...m,
    fields: m.fields.map((f) => ({ type: f.type, data: f.data.toString("hex") })),
    ops: m.ops.map((o) => ({ op: o.op, particleType: o.particleType, name: o.name, data: o.data.toString("hex") })),
  };
}

function fromPlain(p: PlainMessage): AsMessage {
  return {
    ...p,
    fields: p.fields.map((f) => ({ type: f.type, data: Buffer.from(f.data, "hex") })),
    ops: p.ops.map((o) => ({ ...o, data: Buffer.from(o.data, "hex") })),
  };
}

const body = (frame: Buffer): Buffer => frame.subarray(PROTO_HEADER_BYTES);
const str = (s: string): string => Buffer.from(s, "latin1").toString("hex");

const KEY_FIELDS = [
  { type: FieldType.NAMESPACE, data: str("test") },
  { type: FieldType.SET, data: str("demo") },
  { type: FieldType.DIGEST, data: DIGEST_DEMO_K1 },
];
const REQUEST_HEADER = { ...toPlain(emptyMessage()), transactionTtl: 1000, fields: KEY_FIELDS };
const INT64_1 = "0000000000000001";

const EXPECTED: ReadonlyArray<readonly [string, Buffer, PlainMessage]> = [
  [
    "PUT {a:1}",
    PUT_A1,
    { ...REQUEST_HEADER, info2: Info2.WRITE, ops: [{ op: OpType.WRITE, particleType: ParticleType.INTEGER, name: "a", data: INT64_1 }] },
  ],
  ["PUT reply", PUT_REPLY, { ...toPlain(emptyMessage()), generation: 1 }],
  ["GET", GET, { ...REQUEST_HEADER, info1: Info1.READ | Info1.GET_ALL }],
  [
    "GET reply",
    GET_REPLY,
    { ...toPlain(emptyMessage()), generation: 1, ops: [{ op: OpType.READ, particleType: ParticleType.INTEGER, name: "a", data: INT64_1 }] },
  ],
  ["not-found reply", NOT_FOUND_REPLY, { ...toPlain(emptyMessage()), resultCode: ResultCode.NOT_FOUND }],
  ["exists", EXISTS, { ...REQUEST_HEADER, info1: Info1.READ | Info1.NOBINDATA }],
  ["remove", REMOVE, { ...REQUEST_HEADER, info2: Info2.WRITE | Info2.DELETE }],
  [
    "operate",
    OPERATE,
    {
      ...REQUEST_HEADER,
      info1: Info1.READ,
      info2: Info2.WRITE,
      recordTtl: 100,
      ops: [
        { op: OpType.ADD, particleType: ParticleType.INTEGER, name: "a", data: "0000000000000005" },
        { op: OpType.READ, particleType: ParticleType.NULL, name: "a", data: "" },
        { op: OpType.TOUCH, particleType: ParticleType.NULL, name: "", data: "" },
      ],
    },
  ],
  [
    "batch read",
    BATCH_READ,
    {
      ...toPlain(emptyMessage()),
      info1: Info1.BATCH,
      transactionTtl: 1000,
      fields: [
        {
          type: FieldType.BATCH_INDEX,
          data:
            "00000002" + "0d" +
            "00000000" + DIGEST_DEMO_K1 + "0a" + "03" + "00" + "00" + "00000000" + "0002" + "0000" +
            "00000005" + "00" + str("test") + "00000005" + "01" + str("demo") +
            "00000001" + DIGEST_DEMO_2 + "01",
        },
      ],
    },
  ],
];

/** Expects `fn` to throw a ProtocolError (and nothing else). */
function expectProtocolError(fn: () => unknown, where: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  if (!(thrown instanceof ProtocolError)) {
    throw new Error(`${where}: expected a ProtocolError, got ${thrown === undefined ? "no error" : String(thrown)}`);
  }
  expect(thrown.code).toBe(ResultCode.PARAMETER);
}

/** Runs `fn`; a ProtocolError is fine, any other error fails with `where`. */
function onlyProtocolErrors(fn: () => unknown, where: string): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw new Error(`${where}: threw ${String(e)}`, { cause: e });
  }
}

describe("captured frames (§9, §13)", () => {
  it("have the sizes the reference states", () => {
    expect(PUT_A1.length).toBe(90);
    expect(PUT_REPLY.length).toBe(30);
    expect(GET.length).toBe(73);
    expect(GET_REPLY.length).toBe(47);
    expect(NOT_FOUND_REPLY.length).toBe(30);
    for (const [name, frame] of CAPTURED_MSG_FRAMES) {
      expect(frame.readUIntBE(2, 6), name).toBe(frame.length - 8);
    }
  });

  for (const [name, frame, expected] of EXPECTED) {
    it(`${name}: decodes to the reference's fields and re-encodes byte for byte`, () => {
      const [decoded] = new FrameDecoder().push(frame);
      expect(decoded!.type).toBe(3);
      const msg = decodeMessage(decoded!.body);
      expect(toPlain(msg)).toEqual(expected);
      expect(encodeMessage(fromPlain(expected)).toString("hex")).toBe(frame.toString("hex"));
      expect(messageBytes(msg)).toBe(frame.length - PROTO_HEADER_BYTES);
    });
  }

  it("PUT with a string bin s:'x' adds the captured op bytes", () => {
    const msg = decodeMessage(body(PUT_A1));
    msg.ops.push({ op: OpType.WRITE, particleType: ParticleType.STRING, name: "s", data: Buffer.from("x") });
    const frame = encodeMessage(msg);
    expect(frame.subarray(frame.length - OP_S_X.length)).toEqual(OP_S_X);
    expect(frame.readUIntBE(2, 6)).toBe(82 + OP_S_X.length);
    expect(decodeMessage(body(frame)).ops[1]).toEqual({ op: 2, particleType: 3, name: "s", data: Buffer.from("x") });
  });

  it("findField locates fields by type, not position", () => {
    const msg = decodeMessage(body(GET));
    expect(findField(msg, FieldType.DIGEST)!.data.toString("hex")).toBe(DIGEST_DEMO_K1);
    expect(findField(msg, FieldType.NAMESPACE)!.data.toString()).toBe("test");
    expect(findField(msg, FieldType.KEY)).toBeUndefined();
    msg.fields.reverse();
    expect(findField(msg, FieldType.SET)!.data.toString()).toBe("demo");
  });

  it("decodes a batch reply body of concatenated messages with readMessage (records, then LAST)", () => {
    const rec = (index: number, resultCode: number): AsMessage => ({
      ...emptyMessage(),
      resultCode,
      generation: resultCode === 0 ? 1 : 0,
      transactionTtl: index, // batch index
      ops: resultCode === 0 ? [{ op: 1, particleType: 1, name: "a", data: Buffer.from(INT64_1, "hex") }] : [],
    });
    const msgs = [rec(0, 0), rec(1, ResultCode.NOT_FOUND), { ...emptyMessage(), info3: Info3.LAST }];
    const buf = Buffer.alloc(msgs.reduce((n, m) => n + messageBytes(m), 0));
    let end = 0;
    for (const m of msgs) end = writeMessage(buf, end, m);
    expect(end).toBe(buf.length);

    const got: PlainMessage[] = [];
    for (let p = 0; p < buf.length; ) {
      const r = readMessage(buf, p);
      got.push(toPlain(r.msg));
      p = r.end;
    }
    expect(got).toEqual(msgs.map(toPlain));
    expectProtocolError(() => decodeMessage(buf), "decodeMessage of a multi-message body");
  });
});

// ---------------------------------------------------------------------------------------------
// Round trip

const u8 = fc.integer({ min: 0, max: 255 });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
/** Bin names: any Unicode (no lone surrogates, which UTF-8 cannot carry), at most 15 bytes. */
const binName = fc
  .string({ unit: "binary", maxLength: 15 })
  .filter((s) => Buffer.byteLength(s, "utf8") <= 15);

const messageArb: fc.Arbitrary<AsMessage> = fc.record({
  info1: u8,
  info2: u8,
  info3: u8,
  info4: u8,
  resultCode: u8,
  generation: u32,
  recordTtl: u32,
  transactionTtl: u32,
  fields: fc.array(fc.record({ type: u8, data: bytes(80) }), { maxLength: 8 }),
  ops: fc.array(fc.record({ op: u8, particleType: u8, name: binName, data: bytes(80) }), { maxLength: 8 }),
});

describe("round trip", () => {
  it("decode(encode(m)) == m for arbitrary messages (fast-check)", () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const frame = encodeMessage(m);
        expect(frame[0]).toBe(2);
        expect(frame[1]).toBe(3);
        expect(frame.readUIntBE(2, 6)).toBe(frame.length - 8);
        expect(frame.length).toBe(8 + messageBytes(m));
        expect(toPlain(decodeMessage(body(frame)))).toEqual(toPlain(m));
      }),
      { numRuns: 500 },
    );
  });

  it("writeMessage at an offset returns the end and leaves the surrounding bytes alone", () => {
    fc.assert(
      fc.property(messageArb, fc.nat({ max: 16 }), (m, offset) => {
        const size = messageBytes(m);
        const buf = Buffer.alloc(offset + size + 4, 0xee);
        expect(writeMessage(buf, offset, m)).toBe(offset + size);
        expect(buf.subarray(0, offset).every((b) => b === 0xee)).toBe(true);
        expect(buf.subarray(offset + size).every((b) => b === 0xee)).toBe(true);
        const r = readMessage(buf.subarray(0, offset + size), offset);
        expect(r.end).toBe(offset + size);
        expect(toPlain(r.msg)).toEqual(toPlain(m));
      }),
      { numRuns: 300 },
    );
  });

  it("carries bin names up to the 255 bytes the name-length byte allows", () => {
    for (const len of [15, 16, 100, 255]) {
      const m: AsMessage = { ...emptyMessage(), ops: [{ op: 1, particleType: 3, name: "n".repeat(len), data: Buffer.from("v") }] };
      expect(toPlain(decodeMessage(body(encodeMessage(m))))).toEqual(toPlain(m));
    }
  });

  it("regression: a bin name over 255 bytes is a ProtocolError, not a corrupt name-length byte", () => {
    // Before the fix, the name-length byte wrapped (256 → 0) and the name was decoded as value.
    for (const name of ["n".repeat(256), "é".repeat(128), "n".repeat(300)]) {
      const m: AsMessage = { ...emptyMessage(), ops: [{ op: 2, particleType: 3, name, data: Buffer.from("v") }] };
      expectProtocolError(() => encodeMessage(m), `name of ${Buffer.byteLength(name)} bytes`);
    }
  });

  it("regression: more than 65535 fields or ops is a ProtocolError, not a RangeError", () => {
    const op = { op: 1, particleType: 0, name: "", data: Buffer.alloc(0) };
    const field = { type: 0, data: Buffer.alloc(0) };
    expectProtocolError(() => encodeMessage({ ...emptyMessage(), ops: new Array(65536).fill(op) }), "65536 ops");
    expectProtocolError(() => encodeMessage({ ...emptyMessage(), fields: new Array(65536).fill(field) }), "65536 fields");
    // 65535 is the largest count the u16 carries and still works.
    const many = { ...emptyMessage(), ops: new Array(65535).fill(op) };
    expect(decodeMessage(body(encodeMessage(many))).ops).toHaveLength(65535);
  });

  it("writes the u32 header words as unsigned (negative generation/ttl wrap like the C client)", () => {
    const m = { ...emptyMessage(), recordTtl: -1, generation: -2 };
    const back = decodeMessage(body(encodeMessage(m)));
    expect(back.recordTtl).toBe(0xffff_ffff);
    expect(back.generation).toBe(0xffff_fffe);
  });
});

// ---------------------------------------------------------------------------------------------
// Malformed input

/** Offsets (within the body) of every field and op size word of a valid message body. */
function sizeWordOffsets(b: Buffer): { fields: number[]; ops: number[] } {
  const msg = decodeMessage(b);
  const fields: number[] = [];
  const ops: number[] = [];
  let p = MSG_HEADER_BYTES;
  for (let i = 0; i < msg.fields.length; i++) {
    fields.push(p);
    p += 4 + b.readUInt32BE(p);
  }
  for (let i = 0; i < msg.ops.length; i++) {
    ops.push(p);
    p += 4 + b.readUInt32BE(p);
  }
  return { fields, ops };
}

describe("malformed bodies give ProtocolError", () => {
  it("every truncation point of every captured message", () => {
    for (const [name, frame] of CAPTURED_MSG_FRAMES) {
      const b = body(frame);
      for (let t = 0; t < b.length; t++) {
        expectProtocolError(() => decodeMessage(b.subarray(0, t)), `${name} truncated to ${t}`);
        expectProtocolError(() => readMessage(b.subarray(0, t)), `${name} truncated to ${t} (readMessage)`);
      }
    }
  });

  it("every truncation point of arbitrary messages (fast-check)", () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const b = body(encodeMessage(m));
        for (let t = 0; t < b.length; t++) expectProtocolError(() => decodeMessage(b.subarray(0, t)), `truncated to ${t}`);
      }),
      { numRuns: 80 },
    );
  });

  it("a lying proto size (frame shorter than its message) gives a short body and a ProtocolError", () => {
    for (const [name, frame] of CAPTURED_MSG_FRAMES) {
      for (let size = 0; size < frame.length - 8; size++) {
        const lying = Buffer.from(frame.subarray(0, 8 + size));
        lying.writeUIntBE(size, 2, 6);
        const frames = new FrameDecoder().push(lying);
        expect(frames).toHaveLength(1);
        expectProtocolError(() => decodeMessage(frames[0]!.body), `${name} with proto size ${size}`);
      }
    }
  });

  it("trailing bytes after a single message are a ProtocolError; readMessage reports the end", () => {
    const b = Buffer.concat([body(GET_REPLY), Buffer.from([0])]);
    expectProtocolError(() => decodeMessage(b), "trailing byte");
    expect(readMessage(b).end).toBe(b.length - 1);
  });

  it("a header_sz other than 22 is a ProtocolError", () => {
    for (const hs of [0, 1, 21, 23, 255]) {
      const b = Buffer.from(body(PUT_REPLY));
      b[0] = hs;
      expectProtocolError(() => decodeMessage(b), `header_sz ${hs}`);
    }
  });

  it("n_fields / n_ops larger than the body holds are ProtocolErrors", () => {
    for (const [name, frame] of CAPTURED_MSG_FRAMES) {
      const b = body(frame);
      for (const at of [18, 20]) {
        for (const delta of [1, 2, 0xffff]) {
          const lying = Buffer.from(b);
          lying.writeUInt16BE(Math.min(0xffff, b.readUInt16BE(at) + delta), at);
          expectProtocolError(() => decodeMessage(lying), `${name}: count at ${at} + ${delta}`);
        }
      }
    }
  });

  it("field and op sizes that lie give ProtocolError (or a consistent re-parse), never another error", () => {
    for (const [name, frame] of CAPTURED_MSG_FRAMES) {
      const b = body(frame);
      const { fields, ops } = sizeWordOffsets(b);
      for (const at of [...fields, ...ops]) {
        const actual = b.readUInt32BE(at);
        const remaining = b.length - at - 4;
        const candidates = [0, 1, 2, 3, 4, actual - 1, actual + 1, remaining, remaining + 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff];
        for (const size of candidates) {
          if (size < 0 || size === actual) continue;
          const lying = Buffer.from(b);
          lying.writeUInt32BE(size, at);
          const where = `${name}: size word at ${at} = ${size}`;
          // Longer than the rest of the body, or too short for the field type byte / op header:
          // always an error. Other lies may re-parse into a different but well-formed message.
          const mustFail = size > remaining || (fields.includes(at) ? size < 1 : size < 4 + b[at + 7]!);
          if (mustFail) expectProtocolError(() => decodeMessage(lying), where);
          else onlyProtocolErrors(() => decodeMessage(lying), where);
        }
      }
    }
  });

  it("an op whose name length exceeds its size is a ProtocolError", () => {
    const b = Buffer.from(body(GET_REPLY));
    const opAt = MSG_HEADER_BYTES;
    for (const nameLen of [10, 12, 200, 255]) {
      b[opAt + 7] = nameLen;
      expectProtocolError(() => decodeMessage(b), `name length ${nameLen} in an op of size 13`);
    }
  });

  it("random single-byte corruption of arbitrary messages never throws anything but ProtocolError (fast-check)", () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), u8, (m, at, value) => {
        const b = Buffer.from(body(encodeMessage(m)));
        b[at % b.length] = value;
        onlyProtocolErrors(() => decodeMessage(b), `byte ${at % b.length} = ${value}`);
      }),
      { numRuns: 2000 },
    );
  });

  it("field and op data are views into the body (zero-copy), not copies", () => {
    const b = Buffer.from(body(GET_REPLY));
    const msg = decodeMessage(b);
    b[b.length - 1] = 7;
    expect(msg.ops[0]!.data.readBigInt64BE(0)).toBe(7n);
  });
});
