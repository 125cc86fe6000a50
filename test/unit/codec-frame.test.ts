/**
 * Goal: FrameDecoder (client/protocol/frame.ts) turns ANY split of a byte stream into the same
 * frames, and rejects a bad proto header (version, type, size) with a fatal ProtocolError however
 * the header arrives.
 *
 * Method: a multi-frame stream (captured §13 frames, an info frame, an admin frame, a zero-length
 * body, a compressed-type frame) is fed split at every single point, at every pair of points,
 * byte by byte, and under random chunkings and random frame lists from fast-check; the frames must
 * equal the encoded ones (checked after the last push, so a body that aliases a reused buffer
 * would show). Bad headers are fed whole, after good frames, and split at every point: the push
 * that completes the header must throw, and the frames yielded before it must be a prefix of the
 * good ones.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  encodeFrame,
  Frame,
  FrameDecoder,
  PROTO_BODY_BYTES_MAX,
  PROTO_HEADER_BYTES,
  ProtocolError,
  ProtoType,
  ResultCode,
  writeProtoHeader,
} from "../../client/protocol/index.js";
import { GET_REPLY, hex, PUT_A1, PUT_REPLY } from "./fixtures/captured-frames.js";

interface PlainFrame {
  type: number;
  body: string; // hex, so comparisons show readable diffs and never alias buffers
}

const plain = (frames: readonly Frame[]): PlainFrame[] =>
  frames.map((f) => ({ type: f.type, body: f.body.toString("hex") }));

/** Feeds `chunks` in order and returns every frame, plain. */
function decodeChunks(chunks: readonly Buffer[], decoder = new FrameDecoder()): PlainFrame[] {
  const out: Frame[] = [];
  for (const c of chunks) out.push(...decoder.push(c));
  expect(decoder.bufferedBytes).toBe(0);
  return plain(out);
}

/** Splits `buf` at the sorted cut points (duplicates give empty chunks, which must be harmless). */
function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    chunks.push(buf.subarray(prev, c));
    prev = c;
  }
  chunks.push(buf.subarray(prev));
  return chunks;
}

const INFO_BODY = Buffer.from("node\npartition-generation\nbuild\n", "latin1");
const ADMIN_BODY = Buffer.alloc(16, 0); // CE answer shape: 16-byte admin header
ADMIN_BODY[1] = 51;
const STREAM_FRAMES: readonly Buffer[] = [
  encodeFrame(ProtoType.INFO, INFO_BODY),
  PUT_A1,
  encodeFrame(ProtoType.MSG, Buffer.alloc(0)), // zero-length body (skipped by multi-record streams)
  PUT_REPLY,
  encodeFrame(ProtoType.ADMIN, ADMIN_BODY),
  encodeFrame(ProtoType.MSG_COMPRESSED, Buffer.from("0000000000000020789c", "hex")),
  GET_REPLY,
  encodeFrame(ProtoType.MSG, Buffer.from([0x16])),
];
const STREAM = Buffer.concat(STREAM_FRAMES);
const EXPECTED: PlainFrame[] = STREAM_FRAMES.map((f) => ({
  type: f[1]!,
  body: f.subarray(PROTO_HEADER_BYTES).toString("hex"),
}));

describe("encodeFrame / writeProtoHeader", () => {
  it("writes the captured info request header (02 01, 48-bit size 0x20)", () => {
    expect(encodeFrame(ProtoType.INFO, INFO_BODY).subarray(0, 8)).toEqual(hex("02 01 00 00 00 00 00 20"));
  });

  it("writes a 48-bit big-endian size at an offset", () => {
    const buf = Buffer.alloc(10, 0xaa);
    writeProtoHeader(buf, 1, ProtoType.MSG, 0x0102_0304_0506);
    expect(buf).toEqual(hex("aa 02 03 01 02 03 04 05 06 aa"));
  });
});

describe("FrameDecoder: any split of the stream gives the same frames", () => {
  it("decodes the stream pushed whole", () => {
    expect(decodeChunks([STREAM])).toEqual(EXPECTED);
  });

  it(`decodes it split at every single point (0..${STREAM.length})`, () => {
    for (let i = 0; i <= STREAM.length; i++) {
      expect(decodeChunks(splitAt(STREAM, [i])), `split at ${i}`).toEqual(EXPECTED);
    }
  });

  it("decodes it split at every pair of points", () => {
    // ~40k decodes of the stream, compared with Buffer.equals (hex rendering only on a mismatch);
    // this covers every header split across three chunks.
    const sameAsExpected = (frames: Frame[]): boolean =>
      frames.length === STREAM_FRAMES.length &&
      frames.every((f, k) => f.type === STREAM_FRAMES[k]![1] && f.body.equals(STREAM_FRAMES[k]!.subarray(PROTO_HEADER_BYTES)));
    for (let i = 0; i <= STREAM.length; i += 1) {
      for (let j = i; j <= STREAM.length; j += 1) {
        const decoder = new FrameDecoder();
        const frames = [...decoder.push(STREAM.subarray(0, i)), ...decoder.push(STREAM.subarray(i, j)), ...decoder.push(STREAM.subarray(j))];
        if (!sameAsExpected(frames) || decoder.bufferedBytes !== 0) {
          expect(plain(frames), `split at ${i} and ${j}`).toEqual(EXPECTED);
          expect(decoder.bufferedBytes).toBe(0);
        }
      }
    }
  });

  it("decodes it byte by byte, holding exactly the bytes of the incomplete frame", () => {
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    const ends: number[] = [];
    let end = 0;
    for (const f of STREAM_FRAMES) ends.push((end += f.length));
    let lastEnd = 0;
    for (let i = 0; i < STREAM.length; i++) {
      const got = decoder.push(STREAM.subarray(i, i + 1));
      frames.push(...got);
      if (ends.includes(i + 1)) lastEnd = i + 1;
      // A zero-length frame completes together with its header, so several can end on one byte.
      expect(decoder.bufferedBytes, `after byte ${i}`).toBe(i + 1 - lastEnd);
    }
    expect(plain(frames)).toEqual(EXPECTED);
  });

  it("keeps earlier frames intact while later chunks arrive (bodies compared after the last push)", () => {
    // decodeChunks renders the frames only after feeding everything, so a body that aliased the
    // decoder's reassembly buffer would show here. (Contract: the decoder keeps views of pushed
    // chunks, so a caller must not reuse a chunk's memory after pushing it.)
    for (let i = 0; i <= STREAM.length; i += 7) {
      expect(decodeChunks(splitAt(STREAM, [i, i + 3, i + 11]))).toEqual(EXPECTED);
    }
  });

  it("decodes under random chunkings (fast-check)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: STREAM.length }), { maxLength: 40 }), (cuts) => {
        expect(decodeChunks(splitAt(STREAM, cuts))).toEqual(EXPECTED);
      }),
      { numRuns: 500 },
    );
  });

  it("decodes random frame lists under random chunkings (fast-check)", () => {
    const frameArb = fc.record({
      type: fc.constantFrom(1, 2, 3, 4),
      body: fc.uint8Array({ maxLength: 300 }),
    });
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (frames, rawCuts) => {
          const encoded = frames.map((f) => encodeFrame(f.type, Buffer.from(f.body)));
          const stream = Buffer.concat(encoded);
          const cuts = rawCuts.map((c) => c % (stream.length + 1));
          const expected = frames.map((f) => ({ type: f.type, body: Buffer.from(f.body).toString("hex") }));
          expect(decodeChunks(splitAt(stream, cuts))).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("FrameDecoder: edge cases", () => {
  it("returns a zero-length body frame as soon as its header arrives", () => {
    const decoder = new FrameDecoder();
    const header = encodeFrame(ProtoType.MSG, Buffer.alloc(0));
    expect(decoder.push(header.subarray(0, 7))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(7);
    const frames = decoder.push(header.subarray(7));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.type).toBe(ProtoType.MSG);
    expect(frames[0]!.body.length).toBe(0);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it("returns several zero-length frames from one chunk", () => {
    const empty = encodeFrame(ProtoType.INFO, Buffer.alloc(0));
    const frames = new FrameDecoder().push(Buffer.concat([empty, empty, empty]));
    expect(frames.map((f) => [f.type, f.body.length])).toEqual([[1, 0], [1, 0], [1, 0]]);
  });

  it("ignores empty chunks in any state", () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(Buffer.alloc(0))).toEqual([]);
    expect(decoder.push(PUT_A1.subarray(0, 3))).toEqual([]);
    expect(decoder.push(Buffer.alloc(0))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(3);
    expect(decoder.push(PUT_A1.subarray(3, 20))).toEqual([]);
    expect(decoder.push(Buffer.alloc(0))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(20);
    expect(plain(decoder.push(PUT_A1.subarray(20)))).toEqual([
      { type: 3, body: PUT_A1.subarray(8).toString("hex") },
    ]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it("reports bufferedBytes for a partial frame after a complete one", () => {
    const decoder = new FrameDecoder();
    const frames = decoder.push(Buffer.concat([PUT_REPLY, GET_REPLY.subarray(0, 12)]));
    expect(frames).toHaveLength(1);
    expect(decoder.bufferedBytes).toBe(12);
    decoder.push(GET_REPLY.subarray(12, 20));
    expect(decoder.bufferedBytes).toBe(20);
    expect(decoder.push(GET_REPLY.subarray(20))).toHaveLength(1);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it("accepts a header declaring exactly the body limit without waiting for or allocating the body", () => {
    const decoder = new FrameDecoder();
    const header = Buffer.alloc(8);
    writeProtoHeader(header, 0, ProtoType.MSG, PROTO_BODY_BYTES_MAX);
    expect(decoder.push(header)).toEqual([]);
    expect(decoder.bufferedBytes).toBe(8);
  });

  it("honours bodyBytesMax and types options", () => {
    const small = new FrameDecoder({ bodyBytesMax: 16, types: [ProtoType.INFO] });
    expect(small.push(encodeFrame(ProtoType.INFO, Buffer.alloc(16)))).toHaveLength(1);
    expect(() => new FrameDecoder({ bodyBytesMax: 16 }).push(encodeFrame(ProtoType.INFO, Buffer.alloc(17)))).toThrow(
      ProtocolError,
    );
    expect(() => new FrameDecoder({ types: [ProtoType.INFO] }).push(PUT_REPLY)).toThrow(/unsupported proto type 3/);
  });
});

function header(version: number, type: number, size: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = version;
  b[1] = type;
  b.writeUIntBE(size, 2, 6);
  return b;
}

const BAD_HEADERS: ReadonlyArray<readonly [string, Buffer, RegExp]> = [
  ["version 0", header(0, 3, 22), /proto version 0/],
  ["version 1", header(1, 3, 22), /proto version 1/],
  ["version 3", header(3, 3, 22), /proto version 3/],
  ["TLS ClientHello (0x16 0x03)", hex("16 03 01 02 00 01 00 01"), /proto version 22/],
  ["HTTP request", Buffer.from("GET / HTTP/1.1\r\n"), /proto version 71/],
  ["type 0", header(2, 0, 22), /proto type 0/],
  ["type 5 (XDR)", header(2, 5, 22), /proto type 5/],
  ["type 255", header(2, 255, 22), /proto type 255/],
  ["size limit + 1", header(2, 3, PROTO_BODY_BYTES_MAX + 1), /exceeds the limit/],
  ["size 2^32", header(2, 3, 2 ** 32), /exceeds the limit/],
  ["size 2^48 - 1", header(2, 1, 2 ** 48 - 1), /exceeds the limit/],
];

function expectFatal(fn: () => unknown, pattern: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(ProtocolError);
  const err = thrown as ProtocolError;
  expect(err.fatal).toBe(true);
  expect(err.code).toBe(ResultCode.PARAMETER);
  expect(err.message).toMatch(pattern);
}

describe("FrameDecoder: a bad header is a fatal ProtocolError", () => {
  it("regression: a failed decoder stays failed instead of resynchronising on the next chunk", () => {
    // Before the fix, a header rejected in the middle of a chunk left no state behind, so the next
    // push started afresh and could decode whatever followed as frames.
    const decoder = new FrameDecoder();
    let first: unknown;
    try {
      decoder.push(Buffer.concat([PUT_REPLY, header(3, 3, 0), Buffer.alloc(10)]));
    } catch (e) {
      first = e;
    }
    expect(first).toBeInstanceOf(ProtocolError);
    expect(decoder.bufferedBytes).toBe(0);
    for (const next of [GET_REPLY, GET_REPLY.subarray(0, 3), Buffer.alloc(0)]) {
      expect(() => decoder.push(next)).toThrow(first as ProtocolError);
    }
    // Also when the bad header was held as a partial frame.
    const split = new FrameDecoder();
    split.push(header(2, 9, 0).subarray(0, 4));
    expect(() => split.push(header(2, 9, 0).subarray(4))).toThrow(/proto type 9/);
    expect(() => split.push(PUT_REPLY)).toThrow(/proto type 9/);
  });

  for (const [name, bad, pattern] of BAD_HEADERS) {
    it(`${name}: whole, after good frames, and split at every point`, () => {
      expectFatal(() => new FrameDecoder().push(bad), pattern);
      expectFatal(() => new FrameDecoder().push(Buffer.concat([PUT_REPLY, bad, Buffer.alloc(30)])), pattern);

      const good = Buffer.concat([PUT_REPLY, encodeFrame(ProtoType.INFO, Buffer.alloc(0))]);
      const stream = Buffer.concat([good, bad.subarray(0, 8), Buffer.alloc(24, 0x16)]);
      const headerEnd = good.length + 8;
      const goodFrames = plain(new FrameDecoder().push(good));
      for (let i = 0; i <= stream.length; i++) {
        for (const j of [i, Math.min(i + 1, stream.length), Math.min(i + 5, stream.length)]) {
          const decoder = new FrameDecoder();
          const yielded: PlainFrame[] = [];
          let thrown: unknown;
          let fed = 0;
          for (const chunk of splitAt(stream, [i, j])) {
            try {
              yielded.push(...plain(decoder.push(chunk)));
            } catch (e) {
              thrown = e;
              break;
            }
            fed += chunk.length;
          }
          const where = `split at ${i}, ${j}`;
          expect(thrown, where).toBeInstanceOf(ProtocolError);
          expect((thrown as ProtocolError).fatal, where).toBe(true);
          expect((thrown as ProtocolError).message, where).toMatch(pattern);
          // Thrown no later than the push that completed the header.
          expect(fed, where).toBeLessThan(headerEnd);
          // The frames before the bad header come out (or are lost with the connection), never garbage.
          expect(goodFrames.slice(0, yielded.length), where).toEqual(yielded);
        }
      }
    });
  }
});
