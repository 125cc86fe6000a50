/**
 * Goal: migration chunks round-trip exactly, and a chunk from a peer that is malformed in any way
 * is refused with a KvError PARAMETER, never another exception (a receiver must not crash on it).
 *
 * Method: fast-check records of one partition → encodeChunk → parseChunk gives the same digests,
 * the same value bytes and the meta they encode; then fuzzing: every truncation, random byte
 * flips and random buffers, with the counts and partitions around them, must parse or fail only
 * with PARAMETER, and whatever parses holds only valid records of the partition (decodeRecord
 * accepts each, with the meta parsed).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { partitionId } from "../../client/protocol/digest.js";
import { KvError } from "../../client/protocol/errors.js";
import { ResultCode } from "../../client/protocol/result-code.js";
import { CHUNK_RECORDS_MAX, chunkEntryBytes, encodeChunk, parseChunk } from "../../server/cluster/migration-chunk.js";
import { decodeRecord, encodeRecord } from "../../server/storage/record-codec.js";
import type { StoredRecord } from "../../server/storage/record-store.js";

const PID = 1234;

/** A digest in partition PID (its low 12 bits are the partition id). */
const digestArb = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((u) => {
  const d = Buffer.from(u);
  d[0] = PID & 0xff;
  d[1] = (d[1]! & 0xf0) | ((PID >> 8) & 0x0f);
  return d;
});

const recordArb: fc.Arbitrary<StoredRecord> = fc.record({
  generation: fc.integer({ min: 1, max: 65535 }),
  lastUpdateMs: fc.maxSafeNat(),
  voidTime: fc.integer({ min: 0, max: 0xffffffff }),
  setName: fc.string({ maxLength: 8 }),
  bins: fc.array(fc.record({
    name: fc.string({ minLength: 1, maxLength: 15 }),
    type: fc.integer({ min: 0, max: 255 }),
    data: fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
  }), { maxLength: 3 }),
}).chain((r) => fc.boolean().map((tombstone) => (tombstone ? { ...r, bins: [], tombstone: true } : r)));

const entriesArb = fc.array(fc.tuple(digestArb, recordArb), { maxLength: 20 })
  .map((xs) => xs.map(([digest, record]) => ({ digest, value: encodeRecord(record), record })));

function parseOrParameter(raw: unknown, n: unknown, pid = PID): ReturnType<typeof parseChunk> | "refused" {
  try {
    return parseChunk(raw, n, pid);
  } catch (err) {
    expect(err).toBeInstanceOf(KvError);
    expect((err as KvError).code).toBe(ResultCode.PARAMETER);
    return "refused";
  }
}

describe("migration chunks", () => {
  it("round-trip: the same digests, value bytes and records", () => {
    fc.assert(fc.property(entriesArb, (entries) => {
      const b = encodeChunk(entries);
      expect(b.length).toBe(entries.reduce((n, e) => n + chunkEntryBytes(e), 0));
      const parsed = parseChunk(b, entries.length, PID);
      expect(parsed.map((r) => r.digest.toString("hex"))).toEqual(entries.map((e) => e.digest.toString("hex")));
      expect(parsed.map((r) => r.value.toString("hex"))).toEqual(entries.map((e) => e.value.toString("hex")));
      for (const [i, r] of parsed.entries()) {
        const want = entries[i]!.record;
        expect(r.meta.generation).toBe(want.generation);
        expect(r.meta.lastUpdateMs).toBe(want.lastUpdateMs);
        expect(r.meta.voidTime).toBe(want.voidTime);
        expect(r.meta.tombstone === true).toBe(want.tombstone === true);
      }
      // A Uint8Array (as msgpackr may hand it over) parses the same.
      expect(parseChunk(new Uint8Array(b), entries.length, PID).length).toBe(entries.length);
    }));
  });

  it("refuses a wrong count, a foreign partition, and non-buffers with PARAMETER", () => {
    const entries = fc.sample(entriesArb.filter((e) => e.length > 0), { numRuns: 1, seed: 7 })[0]!;
    const b = encodeChunk(entries);
    expect(parseOrParameter(b, entries.length - 1)).toBe("refused"); // trailing bytes
    expect(parseOrParameter(b, entries.length + 1)).toBe("refused"); // truncated
    expect(parseOrParameter(b, entries.length, PID + 1)).toBe("refused");
    for (const n of [-1, 1.5, "1", undefined, CHUNK_RECORDS_MAX + 1]) expect(parseOrParameter(b, n)).toBe("refused");
    for (const raw of [undefined, null, "x", 7, [1, 2], {}]) expect(parseOrParameter(raw, 0)).toBe("refused");
    expect(parseOrParameter(Buffer.alloc(0), 0)).toEqual([]);
  });

  it("fuzz: truncations, byte flips and random bytes parse to valid records or are refused with PARAMETER", () => {
    fc.assert(fc.property(entriesArb, fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), (entries, cut, flips) => {
      const b = encodeChunk(entries);
      const truncated = b.subarray(0, b.length === 0 ? 0 : cut % b.length);
      const flipped = Buffer.from(b);
      for (const [at, v] of flips) if (flipped.length > 0) flipped[at % flipped.length] = v;
      for (const [raw, n] of [[truncated, entries.length], [flipped, entries.length]] as const) {
        const out = parseOrParameter(raw, n);
        if (out === "refused") continue;
        for (const r of out) {
          expect(partitionId(r.digest)).toBe(PID);
          const d = decodeRecord(r.value); // a valid record, whose meta is the one parsed
          expect(r.meta).toEqual({ generation: d.generation, lastUpdateMs: d.lastUpdateMs, voidTime: d.voidTime, ...(d.tombstone ? { tombstone: true } : {}) });
        }
      }
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 4 }), (u, n) => {
      parseOrParameter(Buffer.from(u), n);
    }), { numRuns: 500 });
  });
});
