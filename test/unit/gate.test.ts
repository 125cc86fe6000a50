/**
 * Goal: `Gate` never lets more than `max` run at once, runs everyone in arrival order, and frees
 * the place of one that fails. Method: fast-check over random durations and failures.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Gate } from "../../server/service/gate.js";

describe("Gate", () => {
  it("runs at most max at once, starts them in arrival order, and frees a failed holder's place", async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(fc.record({ ms: fc.integer({ min: 0, max: 3 }), fail: fc.boolean() }), { maxLength: 20 }), async (max, jobs) => {
      const gate = new Gate(max);
      let running = 0;
      let peak = 0;
      const started: number[] = [];
      const results = await Promise.allSettled(jobs.map((j, i) => gate.run(async () => {
        started.push(i);
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, j.ms));
        running--;
        if (j.fail) throw new Error(`job ${i}`);
        return i;
      })));
      expect(peak).toBeLessThanOrEqual(max);
      expect(started).toEqual(jobs.map((_, i) => i));
      results.forEach((r, i) => expect(r.status).toBe(jobs[i]!.fail ? "rejected" : "fulfilled"));
      expect(gate.active).toBe(0);
      expect(gate.queued).toBe(0);
    }), { numRuns: 50 });
  });

  it("refuses a max that is not a positive integer", () => {
    expect(() => new Gate(0)).toThrow(/positive integer/);
    expect(() => new Gate(1.5)).toThrow(/positive integer/);
  });
});
