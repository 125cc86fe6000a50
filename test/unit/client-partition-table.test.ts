/**
 * Goal: the partition table decodes `replicas` exactly as the C client does (MSB-first bitmaps
 * of 684 base64 characters), rejects malformed input, and merges several nodes' claims.
 * Method: property tests (fast-check) for bitmap round trips against a naive bit reader, fixed
 * vectors from the protocol reference (§8.3), and scenario tests for the merge rules.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BITMAP_BASE64_CHARS, PartitionTable, bitmapHas, bitmapOf, encodeReplicas, parseReplicas,
} from "../../client/internal.js";
import { ProtocolError } from "../../client/protocol/index.js";

const ALL = Array.from({ length: 4096 }, (_, i) => i);
const EVEN = ALL.filter((p) => p % 2 === 0);
const ODD = ALL.filter((p) => p % 2 === 1);

/** Naive reference: bit p is in byte p/8, counted from the most significant bit. */
function naiveHas(bitmap: Buffer, pid: number): boolean {
  const byte = bitmap[Math.floor(pid / 8)]!;
  return ((byte >> (7 - (pid % 8))) & 1) === 1;
}

describe("bitmaps", () => {
  it("all-owned and all-unowned vectors from §8.3", () => {
    expect(bitmapOf(ALL).toString("base64")).toBe("/".repeat(682) + "8=");
    expect(bitmapOf([]).toString("base64")).toBe("A".repeat(683) + "=");
    expect(BITMAP_BASE64_CHARS).toBe(684);
  });

  it("MSB first: partition 0 is 0x80 of byte 0, partition 9 is 0x40 of byte 1", () => {
    expect(bitmapOf([0])[0]).toBe(0x80);
    expect(bitmapOf([9])[1]).toBe(0x40);
    expect(bitmapOf([4095])[511]).toBe(0x01);
  });

  it("property: any set of partitions survives encode → base64 → parse", () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 4095 }), { maxLength: 300 }),
      fc.uniqueArray(fc.integer({ min: 0, max: 4095 }), { maxLength: 300 }),
      fc.integer({ min: 0, max: 5 }),
      (master, replica, regime) => {
        const value = encodeReplicas([{ ns: "test", regime, bitmaps: [bitmapOf(master), bitmapOf(replica)] }]);
        const [claim] = parseReplicas(value);
        expect(claim!.ns).toBe("test");
        expect(claim!.regime).toBe(regime);
        const decoded0 = ALL.filter((pid) => bitmapHas(claim!.bitmaps[0]!, pid));
        const decoded1 = ALL.filter((pid) => naiveHas(claim!.bitmaps[1]!, pid));
        expect(decoded0).toEqual([...master].sort((a, b) => a - b));
        expect(decoded1).toEqual([...replica].sort((a, b) => a - b));
      },
    ), { numRuns: 60 });
  });
});

describe("parseReplicas", () => {
  const all = bitmapOf(ALL).toString("base64");

  it("several namespaces, with or without a final ';'", () => {
    const v = `test:0,1,${all};bar:0,2,${all},${all}`;
    expect(parseReplicas(v).map((c) => [c.ns, c.bitmaps.length])).toEqual([["test", 1], ["bar", 2]]);
    expect(parseReplicas(v + ";")).toHaveLength(2);
    expect(parseReplicas("")).toEqual([]);
  });

  it.each([
    ["missing ns", `:0,1,${all}`],
    ["namespace too long", `${"n".repeat(32)}:0,1,${all}`],
    ["count 0", "test:0,0"],
    ["count disagrees with bitmaps", `test:0,2,${all}`],
    ["short bitmap", `test:0,1,${all.slice(4)}`],
    ["bad base64", `test:0,1,${"*".repeat(683)}=`],
    ["non-numeric regime", `test:x,1,${all}`],
    ["count too large", `test:0,256,${all}`],
  ])("rejects %s", (_why, value) => {
    expect(() => parseReplicas(value)).toThrow(ProtocolError);
  });

  it("property: random text never throws anything but ProtocolError", () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
      try {
        parseReplicas(s);
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
      }
    }));
  });
});

describe("PartitionTable", () => {
  const claim = (master: number[], replica?: number[], regime = 0) =>
    encodeReplicas([{ ns: "test", regime, bitmaps: replica ? [bitmapOf(master), bitmapOf(replica)] : [bitmapOf(master)] }]);

  it("one node owning everything", () => {
    const t = PartitionTable.EMPTY.withClaims("A", 1, claim(ALL));
    expect(t.lookup("test", 1975, 0)).toBe("A");
    expect(t.lookup("test", 1975, 1)).toBeUndefined();
    expect(t.lookup("other", 0, 0)).toBeUndefined();
    expect(t.replicaCount("test")).toBe(1);
    expect(t.partitionsWithoutMaster("test")).toBe(0);
    expect(t.generationOf("A")).toBe(1);
    expect(t.namespaces()).toEqual(["test"]);
    expect(PartitionTable.EMPTY.lookup("test", 0, 0)).toBeUndefined(); // immutable
  });

  it("merges two nodes: even/odd masters, each the other's replica", () => {
    const t = PartitionTable.EMPTY.withClaims("A", 3, claim(EVEN, ODD)).withClaims("B", 5, claim(ODD, EVEN));
    expect([t.lookup("test", 10, 0), t.lookup("test", 10, 1)]).toEqual(["A", "B"]);
    expect([t.lookup("test", 11, 0), t.lookup("test", 11, 1)]).toEqual(["B", "A"]);
    expect(t.partitionsWithoutMaster("test")).toBe(0);
    const withoutB = t.withoutNode("B");
    expect(withoutB.lookup("test", 11, 0)).toBeUndefined();
    expect(withoutB.partitionsWithoutMaster("test")).toBe(2048);
    expect(withoutB.claimants()).toEqual(["A"]);
  });

  it("latest claim wins among equal regimes; a lower regime is ignored", () => {
    let t = PartitionTable.EMPTY.withClaims("A", 1, claim([7]));
    t = t.withClaims("B", 1, claim([7]));
    expect(t.lookup("test", 7, 0)).toBe("B");
    t = t.withClaims("C", 1, claim([7], undefined, 2));
    t = t.withClaims("A", 2, claim([7], undefined, 1));
    expect(t.lookup("test", 7, 0)).toBe("C");
  });

  it("a malformed claim throws and the old table stays usable", () => {
    const t = PartitionTable.EMPTY.withClaims("A", 1, claim(ALL));
    expect(() => t.withClaims("A", 2, "test:0,1,xyz")).toThrow(ProtocolError);
    expect(t.lookup("test", 0, 0)).toBe("A");
    expect(t.ownsAny("A")).toBe(true);
    expect(PartitionTable.EMPTY.withClaims("Z", 1, claim([])).ownsAny("Z")).toBe(false);
  });
});
