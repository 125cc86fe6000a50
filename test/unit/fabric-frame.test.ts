/**
 * Goal: the fabric frame reader (server/cluster/fabric.ts) yields the same frames however the
 * byte stream is split into chunks, and refuses an oversized frame. Method: fast-check over lists
 * of msgpack bodies and random cut points.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeFabricFrame, FabricFrameReader } from "../../server/cluster/fabric.js";

const bodyArb = fc.array(fc.oneof(fc.integer(), fc.string(), fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a))), { maxLength: 4 });

describe("fabric frame reader", () => {
  it("decodes the same frames for every split of the stream", () => {
    fc.assert(fc.property(fc.array(bodyArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (bodies, cuts) => {
      const stream = Buffer.concat(bodies.map((b) => encodeFabricFrame(b)));
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
      const reader = new FabricFrameReader(1 << 20);
      const out: unknown[][] = [];
      let at = 0;
      for (const p of [...points, stream.length]) {
        out.push(...reader.push(stream.subarray(at, p)));
        at = p;
      }
      expect(out.map((b) => b.map((x) => (x instanceof Uint8Array ? Buffer.from(x) : x)))).toEqual(bodies);
    }), { numRuns: 300 });
  });

  it("refuses a frame over the bound before it arrives", () => {
    const reader = new FabricFrameReader(100);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(101, 0);
    expect(() => reader.push(header)).toThrow(/exceeds 100/);
  });
});
