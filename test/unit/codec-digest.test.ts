/**
 * Goal: digests and partition ids (client/protocol/digest.ts) are exactly Aerospike's (§5 of the
 * protocol reference), so shoal routes every key to the partition the official clients pick.
 *
 * Method: every test vector of §5 (GO's suite, and the (demo,"k1") / (demo,2) digests captured
 * from npm aerospike 6.7.1 in the PUT and batch bytes); a fast-check property that computeDigest
 * equals the npm `ripemd160` package (an independent pure-JS RIPEMD-160) over set ‖ type ‖ bytes,
 * with the key bytes built independently of the codec; partitionId against the formula in both
 * of its stated forms (C: LE u16 & 4095; SRV: LE u32 & 4095) and its range; bad input rejected
 * with a ProtocolError.
 */
import crypto from "node:crypto";
import fc from "fast-check";
import RIPEMD160 from "ripemd160";
import { describe, expect, it } from "vitest";
import {
  computeDigest,
  computeDigestFromParticle,
  decodeMessage,
  DIGEST_BYTES,
  FieldType,
  findField,
  keyParticle,
  PARTITION_COUNT,
  partitionId,
  ParticleType,
  ProtocolError,
  UserKey,
} from "../../client/protocol/index.js";
import { BATCH_READ, DIGEST_DEMO_2, DIGEST_DEMO_K1, PUT_A1 } from "./fixtures/captured-frames.js";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** [set, key, digest hex, pid] from §5. */
const VECTORS: ReadonlyArray<readonly [string, UserKey, string, number]> = [
  ["set", 0, "93d943aae37b017ad7e011b0c1d2e2143c2fb37d", 2451],
  ["set", -1, "22116d253745e29fc63fdf760b6e26f7e197e01d", 290],
  ["set", INT64_MIN, "7185c2a47fb02c996daed26b4e01b83240aee9d4", 1393],
  ["set", INT64_MAX, "1698328974afa62c8e069860c1516f780d63dbb8", 2070],
  ["set", "", "2819b1ff6e346a43b4f5f6b77a88bc3eaac22a83", 2344],
  ["set", "s", "607cddba7cd111745ef0a3d783d57f0e83c8f311", 3168],
  ["set", "aaaaaaaaaa", "5979fb32a80da070ff356f7695455592272e36c2", 2393],
  ["set", Buffer.alloc(0), "327e2877b8815c7aeede0d5a8620d4ef8df4a4b4", 3634],
  ["demo", "k1", DIGEST_DEMO_K1, 1975],
  ["demo", 2, DIGEST_DEMO_2, 2734],
  ["demo", 1, "b7f4b83889e2da67de683e1df6919a1eacc446c8", 1207],
  ["", "k1", "50149955959c2fef0a83613ae80c78bb9c96b269", 1104],
];

const show = (k: UserKey): string => (Buffer.isBuffer(k) ? `bytes[${k.length}]` : typeof k === "bigint" ? `${k}n` : JSON.stringify(k));

/** The reference: npm ripemd160 over set ‖ type ‖ bytes. */
function referenceDigest(set: string, type: number, bytes: Buffer): Buffer {
  return new RIPEMD160().update(Buffer.concat([Buffer.from(set, "utf8"), Buffer.from([type]), bytes])).digest();
}

/** Key bytes built without the codec: int64 BE two's complement, UTF-8, or raw. */
function referenceKey(key: UserKey): { type: number; bytes: Buffer } {
  if (typeof key === "string") return { type: 3, bytes: Buffer.from(key, "utf8") };
  if (Buffer.isBuffer(key)) return { type: 4, bytes: key };
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64BE(BigInt(key));
  return { type: 1, bytes };
}

describe("§5 test vectors", () => {
  for (const [set, key, digest, pid] of VECTORS) {
    it(`(${JSON.stringify(set)}, ${show(key)}) → ${digest.slice(0, 8)}…, pid ${pid}`, () => {
      const d = computeDigest(set, key);
      expect(d.toString("hex")).toBe(digest);
      expect(d.length).toBe(DIGEST_BYTES);
      expect(partitionId(d)).toBe(pid);
      const ref = referenceKey(key);
      expect(referenceDigest(set, ref.type, ref.bytes).toString("hex")).toBe(digest);
    });
  }

  it("a bigint key hashes like the same number", () => {
    expect(computeDigest("set", -1n)).toEqual(computeDigest("set", -1));
    expect(computeDigest("demo", 2n).toString("hex")).toBe(DIGEST_DEMO_2);
  });

  it("the captured PUT and batch requests carry these digests", () => {
    const put = decodeMessage(PUT_A1.subarray(8));
    expect(findField(put, FieldType.DIGEST)!.data).toEqual(computeDigest("demo", "k1"));
    const batch = decodeMessage(BATCH_READ.subarray(8));
    const index = findField(batch, FieldType.BATCH_INDEX)!.data;
    expect(index.subarray(9, 29)).toEqual(computeDigest("demo", "k1"));
    expect(index.subarray(4 + 1 + 54 + 4, 4 + 1 + 54 + 24)).toEqual(computeDigest("demo", 2));
  });

  it("node:crypto's ripemd160 (the fallback path) agrees with the package", () => {
    for (const [set, key, digest] of VECTORS) {
      const ref = referenceKey(key);
      const buf = Buffer.concat([Buffer.from(set), Buffer.from([ref.type]), ref.bytes]);
      expect(crypto.createHash("ripemd160").update(buf).digest("hex")).toBe(digest);
    }
  });
});

const keyArb: fc.Arbitrary<UserKey> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 100 }),
  fc.string({ maxLength: 10 }),
  fc.maxSafeInteger(),
  fc.integer(),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.uint8Array({ maxLength: 100 }).map((a) => Buffer.from(a)),
);
const setArb = fc.oneof(fc.constant(""), fc.string({ maxLength: 63 }), fc.string({ unit: "binary", maxLength: 20 }));

describe("properties (fast-check)", () => {
  it("computeDigest equals npm ripemd160 over set ‖ type ‖ bytes", () => {
    fc.assert(
      fc.property(setArb, keyArb, (set, key) => {
        const ref = referenceKey(key);
        expect(computeDigest(set, key).toString("hex")).toBe(referenceDigest(set, ref.type, ref.bytes).toString("hex"));
        expect(keyParticle(key)).toEqual({ type: ref.type, data: ref.bytes });
      }),
      { numRuns: 2000 },
    );
  });

  it("computeDigestFromParticle hashes any particle type byte (blob subtypes, double keys)", () => {
    fc.assert(
      fc.property(setArb, fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }), (set, type, data) => {
        const bytes = Buffer.from(data);
        expect(computeDigestFromParticle(set, { type, data: bytes })).toEqual(referenceDigest(set, type, bytes));
      }),
      { numRuns: 500 },
    );
    const dbl = Buffer.alloc(8);
    dbl.writeDoubleBE(1.5);
    expect(computeDigestFromParticle("s", { type: ParticleType.DOUBLE, data: dbl })).toEqual(referenceDigest("s", 2, dbl));
  });

  it("partitionId is in [0, 4096) and equals both forms of the formula", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (a) => {
        const d = Buffer.from(a);
        const pid = partitionId(d);
        expect(Number.isInteger(pid)).toBe(true);
        expect(pid).toBeGreaterThanOrEqual(0);
        expect(pid).toBeLessThan(PARTITION_COUNT);
        expect(pid).toBe((d[0]! | (d[1]! << 8)) & 4095);
        expect(pid).toBe(d.readUInt32LE(0) & 4095); // SRV's form
      }),
      { numRuns: 2000 },
    );
  });

  it("partitionId covers the whole range (every pid reachable)", () => {
    const seen = new Set<number>();
    const d = Buffer.alloc(20);
    for (let i = 0; i < 65536; i++) {
      d.writeUInt16LE(i, 0);
      seen.add(partitionId(d));
    }
    expect(seen.size).toBe(PARTITION_COUNT);
  });
});

describe("bad input", () => {
  it("a digest that is not 20 bytes is a ProtocolError", () => {
    for (const len of [0, 1, 2, 19, 21, 32]) {
      expect(() => partitionId(Buffer.alloc(len)), `length ${len}`).toThrow(ProtocolError);
    }
  });

  it("keys that are not strings, int64 integers or Buffers are ProtocolErrors", () => {
    const bad: unknown[] = [1.5, NaN, Infinity, 2 ** 53, INT64_MAX + 1n, INT64_MIN - 1n, null, undefined, {}, [1], true];
    for (const k of bad) {
      expect(() => computeDigest("set", k as UserKey), String(k)).toThrow(ProtocolError);
    }
  });
});
