/**
 * Goal: `recordMetaOf`, the receiver's check of a migrated record that does not build its bins,
 * answers exactly what `decodeRecord` answers: the same meta for every value it accepts, a throw
 * for every value it refuses; and its fast walk (`peekRecordMeta`) vouches for every record our
 * encoder writes (else the speed-up is lost silently).
 *
 * Method: fast-check records of every shape the encoder meets (user keys, tombstones, bins past
 * a fixarray, names and bins past one length byte, small and large times), then the same values
 * mutated (byte flips, truncations, appended bytes) and random bytes, compared with a full decode;
 * plus hand-made encodings msgpack allows and our encoder does not write.
 */
import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { decodeRecord, encodeRecord, peekRecordMeta, recordMetaOf } from "../../server/storage/record-codec.js";
import type { RecordMeta, StoredRecord } from "../../server/storage/record-store.js";

const recordArb: fc.Arbitrary<StoredRecord> = fc.record({
  generation: fc.integer({ min: 1, max: 65535 }),
  lastUpdateMs: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.maxSafeNat()),
  voidTime: fc.integer({ min: 0, max: 0xffffffff }),
  setName: fc.oneof(fc.string({ maxLength: 8 }), fc.string({ minLength: 32, maxLength: 300 })),
  userKey: fc.option(fc.record({ type: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)) }), { nil: undefined }),
  bins: fc.array(fc.record({
    name: fc.string({ minLength: 1, maxLength: 40 }),
    type: fc.integer({ min: 0, max: 255 }),
    data: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 256, maxLength: 70_000 })).map((u) => Buffer.from(u)),
  }), { maxLength: 7 }),
}, { requiredKeys: ["generation", "lastUpdateMs", "voidTime", "setName", "bins"] })
  .chain((r) => fc.boolean().map((tombstone) => (tombstone ? { ...r, bins: [], tombstone: true } : r)));

function metaOf(r: StoredRecord): RecordMeta {
  return r.tombstone ? { generation: r.generation, lastUpdateMs: r.lastUpdateMs, voidTime: r.voidTime, tombstone: true }
    : { generation: r.generation, lastUpdateMs: r.lastUpdateMs, voidTime: r.voidTime };
}

/** decodeRecord's answer as a meta, or "refused". */
function decoded(b: Buffer): RecordMeta | "refused" {
  try {
    return metaOf(decodeRecord(b));
  } catch {
    return "refused";
  }
}

function float64(x: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = 0xcb;
  b.writeDoubleBE(x, 1);
  return b;
}

function checked(b: Buffer): RecordMeta | "refused" {
  try {
    return recordMetaOf(b);
  } catch {
    return "refused";
  }
}

describe("recordMetaOf: decodeRecord's answer without building the bins", () => {
  it("the fast walk vouches for every record the encoder writes, with its meta", () => {
    fc.assert(fc.property(recordArb, (r) => {
      const b = encodeRecord(r);
      expect(peekRecordMeta(b)).toEqual(metaOf(r));
      expect(recordMetaOf(b)).toEqual(metaOf(r));
    }), { numRuns: 300 });
  });

  it("mutated and random bytes: the same answer as a full decode, and the walk never vouches for what decode refuses", () => {
    const flipsArb = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 });
    fc.assert(fc.property(recordArb, flipsArb, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 3 }), (r, flips, cut, tail) => {
      const b = encodeRecord(r);
      const flipped = Buffer.from(b);
      // Flips land in the first 64 bytes half the time: the header and the first bins.
      for (const [at, v] of flips) flipped[at % 2 === 0 ? (at >> 1) % Math.min(64, b.length) : (at >> 1) % b.length] = v;
      for (const x of [flipped, b.subarray(0, cut % b.length), Buffer.concat([b, Buffer.from(tail)])]) {
        const want = decoded(x);
        expect(checked(x)).toEqual(want);
        const peeked = peekRecordMeta(x);
        if (peeked !== undefined) expect(peeked).toEqual(want);
      }
    }), { numRuns: 1000 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (u) => {
      const x = Buffer.from(u);
      expect(checked(x)).toEqual(decoded(x));
    }), { numRuns: 1000 });
  });

  it("encodings msgpack allows and the encoder does not write are decoded in full: accepted or refused as decode does", () => {
    const packr = new Packr({ useRecords: false, largeBigIntToFloat: false });
    const NOW = 1_795_000_000_000;
    const cases: Array<[string, Buffer]> = [
      ["lastUpdateMs as a uint64 (decodes to a BigInt: refused)", packr.pack([1, 0, 1, BigInt(NOW), "s", null, null])],
      ["generation as a uint64 (refused)", packr.pack([1, 0, 7n, NOW, "s", null, null])],
      ["lastUpdateMs as a float32 (2.5: refused)", Buffer.from("97010001ca4020000000a173c0c0", "hex")],
      ["voidTime as a float64 (accepted)", Buffer.concat([Buffer.from([0x97, 0x01]), float64(100), Buffer.from([0x01]), float64(NOW), Buffer.from([0xa1, 0x73, 0xc0, 0xc0])])],
      ["user key type nil with data (decode ignores the data)", packr.pack([1, 0, 1, NOW, "s", null, Buffer.from("k")])],
      ["a bin's data as a string (refused)", packr.pack([1, 0, 1, NOW, "s", null, null, "b", 3, "not a buffer"])],
      ["a bin type above a byte (refused)", packr.pack([1, 0, 1, NOW, "s", null, null, "b", 256, Buffer.from("x")])],
      ["set name as a number (refused)", packr.pack([1, 0, 1, NOW, 5, null, null])],
      ["format 3 (refused)", packr.pack([3, 0, 1, NOW, "s", null, null])],
      ["generation 0 (refused)", packr.pack([1, 0, 0, NOW, "s", null, null])],
      ["generation 65536 (refused)", packr.pack([1, 0, 65536, NOW, "s", null, null])],
      ["a user key type above a byte (refused)", packr.pack([1, 0, 1, NOW, "s", 300, Buffer.from("k")])],
      ["a truncated bin triple (refused)", packr.pack([1, 0, 1, NOW, "s", null, null, "b", 3])],
    ];
    for (const [what, b] of cases) {
      expect(peekRecordMeta(b), what).toBeUndefined();
      expect(checked(b), what).toEqual(decoded(b));
    }
    expect(decoded(cases[0]![1])).toBe("refused");
    expect(decoded(cases[3]![1])).not.toBe("refused");
    expect(decoded(cases[4]![1])).not.toBe("refused");
  });
});
