/**
 * Goal: no byte sequence from the network can make the wire codec (client/protocol) throw anything
 * but a ProtocolError, hang, or allocate in proportion to a declared (rather than received) size.
 *
 * Method: a bounded, seeded mutation fuzzer. Each iteration draws a valid input (captured §13
 * frames, random AS_MSG frames carrying real particles, Aerospike msgpack of random nested values,
 * info frames, hostile msgpack headers), applies 1–4 mutations (bit flips, interesting bytes,
 * truncation, extension, insertion, deletion, huge u16/u32 sizes, huge proto sizes, splices,
 * inserted container headers declaring 2^32 items) and feeds the result to every decoder:
 * FrameDecoder (random chunking), decodeMessage/readMessage, decodeParticle for every type byte,
 * unpackValue, readInteger, partitionId, decodeInfoRequest/Response. Anything other than a
 * ProtocolError fails the test with the seed, the iteration and the input in hex. The slowest
 * input is reported (no timed assertion). Separate tests pin the huge-count cases.
 *
 * Replay: FUZZ_SEED=<seed> [FUZZ_ITERATIONS=<n>] [FUZZ_ONLY=<iteration>] npx vitest run test/fuzz
 */
import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import {
  AsMessage,
  BinValue,
  decodeInfoRequest,
  decodeInfoResponse,
  decodeMessage,
  decodeParticle,
  Double,
  emptyMessage,
  encodeInfoRequest,
  encodeInfoResponse,
  encodeMessage,
  encodeParticle,
  FrameDecoder,
  GeoJSON,
  packValue,
  partitionId,
  PROTO_HEADER_BYTES,
  ProtocolError,
  ProtoType,
  readInteger,
  readMessage,
  unpackValue,
} from "../../client/protocol/index.js";
import { CAPTURED_MSG_FRAMES, hex, INFO_EXCHANGE } from "../unit/fixtures/captured-frames.js";

const SEED = (process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 0x5eedc0de) >>> 0;
const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 20_000);
const ONLY = process.env.FUZZ_ONLY !== undefined ? Number(process.env.FUZZ_ONLY) : undefined;

/** mulberry32: small, fast, and good enough to drive mutations. */
function rngFrom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  string(max: number): string {
    const n = this.int(max + 1);
    let s = "";
    for (let i = 0; i < n; i++) {
      s += this.bool(0.8) ? String.fromCharCode(32 + this.int(95)) : String.fromCodePoint(this.pick([0xe9, 0x65e5, 0x1f600, 0]));
    }
    return s;
  }
  value(depth = 0): BinValue {
    const kinds = depth > 3 ? 8 : 11;
    switch (this.int(kinds)) {
      case 0: return null;
      case 1: return this.bool();
      case 2: return this.int(2 ** 31) - 2 ** 30;
      case 3: return this.pick([0, -1, 2 ** 53 - 1, -(2 ** 53) + 1, 127, 128, -33, 65536]);
      case 4: return this.pick([-(2n ** 63n), 2n ** 63n - 1n, 2n ** 60n]);
      case 5: return this.bool() ? this.next() * 1e6 - 5e5 : new Double(this.int(100));
      case 6: return this.string(40);
      case 7: return this.bool(0.8) ? this.bytes(this.int(40)) : new GeoJSON(`{"n":${this.int(9)}}`);
      case 8: return Array.from({ length: this.int(6) }, () => this.value(depth + 1));
      case 9: {
        const o: Record<string, BinValue> = {};
        for (let i = this.int(5); i > 0; i--) o[this.string(6)] = this.value(depth + 1);
        return o;
      }
      default: {
        const m = new Map<BinValue, BinValue>();
        for (let i = this.int(5); i > 0; i--) m.set(this.value(depth + 2), this.value(depth + 1));
        return m;
      }
    }
  }
}

const MSGPACK_HOSTILE = [
  "dd ffffffff", "df ffffffff", "db ffffffff 03", "c6 ffffffff", "c9 ffffffff 01", "dc ffff", "de ffff",
  "dd 7fffffff", "df 80000000", "9f", "8f", "c7 ff 01", "d9 ff 03", "cf ffffffffffffffff", "c1",
].map(hex);

function messageFrame(g: Gen): Buffer {
  const msg: AsMessage = {
    ...emptyMessage(),
    info1: g.int(256), info2: g.int(256), info3: g.int(256), resultCode: g.int(256),
    generation: g.int(2 ** 32), recordTtl: g.int(2 ** 32), transactionTtl: g.int(2 ** 32),
  };
  for (let i = g.int(4); i > 0; i--) msg.fields.push({ type: g.int(50), data: g.bytes(g.int(30)) });
  for (let i = g.int(5); i > 0; i--) {
    const p = encodeParticle(g.value());
    msg.ops.push({ op: g.int(17), particleType: p.type, name: g.string(5).slice(0, 5), data: p.data });
  }
  return encodeMessage(msg);
}

/** A valid input of some kind. */
function seedInput(g: Gen): Buffer {
  switch (g.int(7)) {
    case 0: return g.pick(CAPTURED_MSG_FRAMES)[1];
    case 1: return messageFrame(g);
    case 2: return packValue(g.value());
    case 3: return encodeParticle(g.value()).data;
    case 4: {
      const ex = g.pick(INFO_EXCHANGE);
      return g.bool()
        ? encodeInfoRequest(ex.request.split("\n").slice(0, -1))
        : encodeInfoResponse([["replicas", ex.reply], [g.string(10).replace(/[\t\n]/g, ""), g.string(20).replace(/\n/g, "")]]);
    }
    case 5: return Buffer.concat([messageFrame(g), messageFrame(g), g.pick(CAPTURED_MSG_FRAMES)[1]]);
    default: return Buffer.concat([g.pick(MSGPACK_HOSTILE), packValue(g.value())]);
  }
}

const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x16, 0x7f, 0x80, 0xc1, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff];
const INTERESTING_U32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x10000, 0xffff];

function mutate(g: Gen, input: Buffer, other: () => Buffer): Buffer {
  let b = Buffer.from(input);
  for (let n = 1 + g.int(4); n > 0; n--) {
    const at = b.length === 0 ? 0 : g.int(b.length);
    switch (g.int(11)) {
      case 0: if (b.length) b[at] = b[at]! ^ (1 << g.int(8)); break;
      case 1: if (b.length) b[at] = g.pick(INTERESTING_BYTES); break;
      case 2: if (b.length) b[at] = g.int(256); break;
      case 3: b = b.subarray(0, g.int(b.length + 1)); break;
      case 4: b = Buffer.concat([b, g.bool() ? g.bytes(g.int(64)) : b]); break;
      case 5: b = Buffer.concat([b.subarray(0, at), g.bytes(1 + g.int(8)), b.subarray(at)]); break;
      case 6: b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + g.int(16)))]); break;
      case 7: {
        if (b.length < 4) break;
        const p = g.int(b.length - 3);
        const v = g.bool(0.7) ? g.pick(INTERESTING_U32) : g.pick([b.length, b.length - p, b.length - p - 3, b.length + 1]);
        b.writeUInt32BE(v >>> 0, p);
        break;
      }
      case 8: {
        if (b.length < 2) break;
        b.writeUInt16BE(g.pick([0, 1, 0xffff, 0x7fff, 0x8000]), g.int(b.length - 1));
        break;
      }
      case 9: // proto size
        if (b.length >= 8) b.writeUIntBE(g.pick([0, 1, 2 ** 48 - 1, 128 * 1024 * 1024, 128 * 1024 * 1024 + 1, b.length, Math.max(0, b.length - 9), g.int(4096)]), 2, 6);
        break;
      default: {
        const o = g.bool(0.5) ? other() : g.pick(MSGPACK_HOSTILE);
        b = Buffer.concat([b.subarray(0, at), o.subarray(0, 1 + g.int(o.length)), b.subarray(at)]);
      }
    }
  }
  return b;
}

/** One type byte per decodeParticle branch (7..12, 18 and unknown types share the bytes branch). */
const PARTICLE_TYPES = [0, 1, 2, 3, 4, 7, 17, 19, 20, 23, 255];

class Failure extends Error {}

/** Runs one decoder; only a ProtocolError may escape it. */
function guarded(target: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return;
    throw new Failure(`${target} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
  }
}

function decodeFrames(g: Gen, input: Buffer, decoder: FrameDecoder): void {
  let pos = 0;
  while (pos < input.length) {
    const len = g.bool(0.3) ? input.length - pos : 1 + g.int(Math.min(64, input.length - pos));
    const frames = decoder.push(input.subarray(pos, pos + len));
    pos += len;
    for (const f of frames) {
      if (f.type === ProtoType.MSG) {
        guarded("frame → decodeMessage", () => {
          const m = decodeMessage(f.body);
          for (const op of m.ops) guarded(`frame → decodeParticle(${op.particleType})`, () => decodeParticle(op.particleType, op.data));
        });
      } else if (f.type === ProtoType.INFO) {
        decodeInfoRequest(f.body);
        decodeInfoResponse(f.body);
      }
    }
  }
}

/** Feeds one input to every decoder. */
function feedAll(g: Gen, input: Buffer): void {
  guarded("FrameDecoder", () => decodeFrames(g, input, new FrameDecoder()));
  guarded("FrameDecoder(bodyBytesMax 256, types [1,3])", () =>
    decodeFrames(g, input, new FrameDecoder({ bodyBytesMax: 256, types: [1, 3] })),
  );
  guarded("decodeMessage(input)", () => decodeMessage(input));
  const body = input.subarray(Math.min(PROTO_HEADER_BYTES, input.length));
  guarded("decodeMessage(body)", () => decodeMessage(body));
  guarded("readMessage loop", () => {
    for (let p = 0, n = 0; p < body.length && n < 1000; n++) p = readMessage(body, p).end;
  });
  for (const t of PARTICLE_TYPES) guarded(`decodeParticle(${t})`, () => decodeParticle(t, input));
  guarded("unpackValue", () => unpackValue(input));
  guarded("unpackValue(input[1..])", () => unpackValue(input.subarray(1)));
  guarded("readInteger", () => readInteger(input.subarray(0, 1 + (input.length % 12))));
  guarded("partitionId", () => partitionId(input.subarray(0, 20)));
  guarded("decodeInfoRequest", () => decodeInfoRequest(input));
  guarded("decodeInfoResponse", () => decodeInfoResponse(input));
}

const iterationSeed = (i: number): number => (SEED ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;

describe(`codec fuzz (seed ${SEED}, ${ITERATIONS} iterations)`, () => {
  it("mutated inputs only ever raise ProtocolError", () => {
    console.log(`codec fuzz: FUZZ_SEED=${SEED} FUZZ_ITERATIONS=${ITERATIONS}${ONLY !== undefined ? ` FUZZ_ONLY=${ONLY}` : ""}`);
    let slowest = { ms: 0, iteration: -1, bytes: 0 };
    let totalBytes = 0;
    let inputs = 0;
    const start = performance.now();
    // Nearly every input ends in a ProtocolError; capturing a stack for each one would dominate the
    // run time, and the stacks are not looked at (a failure re-runs with FUZZ_ONLY and full stacks).
    const stackTraceLimit = Error.stackTraceLimit;
    if (ONLY === undefined) Error.stackTraceLimit = 0;
    try {
      for (let i = ONLY ?? 0; i < (ONLY !== undefined ? ONLY + 1 : ITERATIONS); i++) {
        const g = new Gen(rngFrom(iterationSeed(i)));
        const input = mutate(g, seedInput(g), () => seedInput(g));
        totalBytes += input.length;
        inputs++;
        const t0 = performance.now();
        try {
          feedAll(g, input);
        } catch (e) {
          const shown = input.length > 4096 ? `${input.subarray(0, 4096).toString("hex")}… (${input.length} bytes)` : input.toString("hex");
          const msg = `${e instanceof Error ? e.message : String(e)}\n  replay: FUZZ_SEED=${SEED} FUZZ_ONLY=${i}\n  input: ${shown}`;
          console.error(`codec fuzz failure: ${msg}`);
          throw new Error(msg, { cause: e });
        }
        const ms = performance.now() - t0;
        if (ms > slowest.ms) slowest = { ms, iteration: i, bytes: input.length };
      }
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    const total = performance.now() - start;
    console.log(
      `codec fuzz: ${inputs} inputs (${totalBytes} bytes) in ${total.toFixed(0)} ms; ` +
        `slowest ${slowest.ms.toFixed(2)} ms at iteration ${slowest.iteration} (${slowest.bytes} bytes)`,
    );
  });
});

describe("huge declared sizes are rejected before allocating or looping", () => {
  it("msgpack containers and strings declaring 2^32-1 items or bytes", () => {
    for (const head of ["dd ffffffff", "df ffffffff", "db ffffffff", "c6 ffffffff", "c9 ffffffff 01", "dc ffff", "de ffff"]) {
      for (const tail of [Buffer.alloc(0), Buffer.alloc(100, 0xc0)]) {
        const input = Buffer.concat([hex(head), tail]);
        expect(() => unpackValue(input), head).toThrow(ProtocolError);
        expect(() => decodeParticle(20, input), head).toThrow(ProtocolError);
      }
    }
  });

  it("nested containers each declaring 2^32-1 items", () => {
    const input = Buffer.concat(Array.from({ length: 60 }, () => hex("dd ffffffff")));
    expect(() => unpackValue(input)).toThrow(ProtocolError);
    // Each level claims as many items as bytes remain: work stays linear in the input.
    const parts: Buffer[] = [];
    for (let i = 0; i < 60; i++) {
      const h = Buffer.alloc(5);
      h[0] = 0xdd;
      h.writeUInt32BE(100_000, 1);
      parts.push(h);
    }
    expect(() => unpackValue(Buffer.concat([...parts, Buffer.alloc(100_000, 0x90)]))).toThrow(ProtocolError);
  });

  it("deep nesting is cut at 64 levels, not by the stack", () => {
    for (const b of [0x91, 0x81, 0xdc]) {
      const input = b === 0xdc ? Buffer.concat(Array.from({ length: 200_000 }, () => hex("dc 0001"))) : Buffer.alloc(1_000_000, b);
      expect(() => unpackValue(input)).toThrow(ProtocolError);
    }
  });

  it("AS_MSG counts of 65535 fields and ops over a tiny body", () => {
    const b = Buffer.alloc(22);
    b[0] = 22;
    b.writeUInt16BE(0xffff, 18);
    b.writeUInt16BE(0xffff, 20);
    expect(() => decodeMessage(b)).toThrow(ProtocolError);
    const op = Buffer.concat([b, hex("ffffffff 01 00 00 00")]);
    op.writeUInt16BE(0, 18);
    expect(() => decodeMessage(op)).toThrow(ProtocolError);
  });

  it("a proto header declaring the largest body holds only what arrived", () => {
    const decoder = new FrameDecoder();
    const header = hex("02 03 00 00 08 00 00 00"); // 128 MiB
    expect(decoder.push(header)).toEqual([]);
    for (let i = 0; i < 100; i++) expect(decoder.push(Buffer.alloc(1024))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(8 + 100 * 1024);
  });

  it("a GeoJSON particle declaring 65535 cells in a short buffer", () => {
    expect(() => decodeParticle(23, hex("00 ff ff 7b 7d"))).toThrow(ProtocolError);
  });
});
