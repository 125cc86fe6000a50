/**
 * Goal: the partition delta (server/core/partition-delta.ts) finds every record a receiver lacks
 * or holds at an older version, and sends nothing the receiver already holds, whatever the copies.
 *
 * Method: fast-check over pairs of copies derived from one base set (the receiver: some records
 * missing, some older, some newer, some equal; the sender likewise), driven through the same
 * steps the rebalancer takes (receiver's bucket count and sums → sender's differing buckets →
 * receiver's versions there → filter), compared with the set the rule defines: sender records
 * that supersede the receiver's version or that it lacks.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BucketSums, bucketCount, BUCKETS_MAX, bucketOf, decodeVersions, deltaFilter, encodeVersions, type Version,
} from "../../server/core/partition-delta.js";
import { supersedes } from "../../server/core/record-rules.js";

type Copy = Map<string, Version>;

const digestArb = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((a) => Buffer.from(a));
const versionArb = fc.record({ generation: fc.integer({ min: 1, max: 65535 }), lastUpdateMs: fc.integer({ min: 1, max: 2 ** 42 }) });

/** A base copy and per-record edits on either side: 0 same, 1 missing, 2 older, 3 newer. */
const pairArb = fc
  .array(fc.tuple(digestArb, versionArb, fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })), { maxLength: 400 })
  .map((rows) => {
    const sender: Copy = new Map();
    const receiver: Copy = new Map();
    const edit = (v: Version, e: number): Version | undefined =>
      e === 1 ? undefined
        : e === 2 ? { generation: Math.max(1, v.generation - 1), lastUpdateMs: v.lastUpdateMs - 1 }
          : e === 3 ? { generation: v.generation === 65535 ? 65535 : v.generation + 1, lastUpdateMs: v.lastUpdateMs + 1 }
            : v;
    for (const [d, v, es, er] of rows) {
      const hex = d.toString("hex");
      const s = edit(v, es);
      const r = edit(v, er);
      if (s) sender.set(hex, s);
      if (r) receiver.set(hex, r);
    }
    return { sender, receiver };
  });

function sumsOf(copy: Copy, nb: number): BucketSums {
  const sums = new BucketSums(nb);
  for (const [hex, v] of copy) sums.add(Buffer.from(hex, "hex"), v);
  return sums;
}

/** The rebalancer's exchange: what the sender streams to the receiver. */
function exchange(sender: Copy, receiver: Copy): { sent: Set<string>; summaryVersions: number } {
  if (receiver.size === 0) return { sent: new Set(sender.keys()), summaryVersions: 0 };
  const nb = bucketCount(receiver.size);
  const theirSums = sumsOf(receiver, nb).toBuffer();
  const differing = sumsOf(sender, nb).differing(theirSums);
  const want = new Set(differing);
  const listed = [...receiver].filter(([hex]) => want.has(bucketOf(Buffer.from(hex, "hex"), nb)))
    .map(([hex, version]) => ({ digest: Buffer.from(hex, "hex"), version }));
  const filter = deltaFilter(nb, differing, decodeVersions(encodeVersions(listed)));
  const sent = new Set([...sender].filter(([hex, v]) => filter(Buffer.from(hex, "hex"), v)).map(([hex]) => hex));
  return { sent, summaryVersions: listed.length };
}

describe("partition delta", () => {
  it("sends exactly the records the receiver lacks or holds older", () => {
    fc.assert(fc.property(pairArb, ({ sender, receiver }) => {
      const expected = new Set([...sender].filter(([hex, v]) => supersedes(v, receiver.get(hex))).map(([hex]) => hex));
      expect(exchange(sender, receiver).sent).toEqual(expected);
    }), { numRuns: 300 });
  });

  it("equal copies give equal sums in any order, so nothing is listed or sent", () => {
    fc.assert(fc.property(pairArb, fc.integer({ min: 0, max: 10 }), ({ sender }, log2) => {
      const nb = 1 << log2;
      const reversed = new Map([...sender].reverse());
      expect(sumsOf(sender, nb).differing(sumsOf(reversed, nb).toBuffer())).toEqual([]);
      const r = exchange(sender, reversed);
      expect(r.sent.size).toBe(0);
      expect(r.summaryVersions).toBe(0);
    }), { numRuns: 100 });
  });

  it("a few changed records cost a few buckets, not the partition", () => {
    const base: Copy = new Map();
    for (let i = 0; i < 2000; i++) {
      const d = Buffer.alloc(20);
      d.writeUInt32BE(i * 2654435761 >>> 0, 2);
      d.writeUInt32BE(i, 8);
      base.set(d.toString("hex"), { generation: 1, lastUpdateMs: 1_700_000_000_000 + i });
    }
    const sender = new Map(base);
    const changed = [...base.keys()].slice(0, 10);
    for (const hex of changed) sender.set(hex, { generation: 2, lastUpdateMs: 1_800_000_000_000 });
    const r = exchange(sender, base);
    expect(r.sent).toEqual(new Set(changed));
    expect(r.summaryVersions).toBeLessThan(200); // ≤ 10 buckets of ~8, not 2000
  });

  it("versions round-trip through the summary encoding", () => {
    fc.assert(fc.property(fc.array(fc.tuple(digestArb, versionArb), { maxLength: 50 }), (rows) => {
      const entries = rows.map(([digest, version]) => ({ digest, version }));
      const decoded = decodeVersions(encodeVersions(entries));
      for (const { digest, version } of entries) expect(decoded.get(digest.toString("hex"))).toBeDefined();
      expect(decoded.size).toBe(new Set(rows.map(([d]) => d.toString("hex"))).size);
      const last = new Map(entries.map((e) => [e.digest.toString("hex"), e.version]));
      for (const [hex, v] of last) expect(decoded.get(hex)).toEqual(v);
    }));
  });

  it("bucket counts are powers of two, bounded, growing with the copy", () => {
    let prev = 1;
    for (const n of [0, 1, 8, 9, 100, 1000, 10_000, 1e6, 1e9]) {
      const nb = bucketCount(n);
      expect(nb & (nb - 1)).toBe(0);
      expect(nb).toBeGreaterThanOrEqual(prev);
      expect(nb).toBeLessThanOrEqual(BUCKETS_MAX);
      prev = nb;
    }
    expect(() => new BucketSums(3)).toThrow(/power of two/);
    expect(() => sumsOf(new Map(), 4).differing(new Uint8Array(5))).toThrow(RangeError);
  });
});
