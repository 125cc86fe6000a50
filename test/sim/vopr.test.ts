/**
 * Goal: membership keeps its safety invariants under any mix of faults, and converges to one
 * cluster per connected group once faults stop.
 * Method: the VOPR (vopr.ts) over many seeds; each seed is a randomized run checked after every
 * step. On failure the message carries the seed, the state of every node and the trace tail.
 *
 *   SIM_SEED=123 npx vitest run test/sim        replay one seed (SIM_VERBOSE=1 prints its trace)
 *   SIM_SEEDS=2000 SIM_SEED_START=5000 ...      explore more seeds
 */
import { describe, expect, it } from "vitest";
import { runSeed, type SeedResult } from "./vopr.js";

const single = process.env.SIM_SEED !== undefined ? Number(process.env.SIM_SEED) : undefined;
const seedCount = Number(process.env.SIM_SEEDS ?? 200);
const seedStart = Number(process.env.SIM_SEED_START ?? 1);
const verbose = process.env.SIM_VERBOSE === "1";

function seeds(): number[] {
  if (single !== undefined) return [single];
  return Array.from({ length: seedCount }, (_, i) => seedStart + i);
}

describe("membership VOPR", () => {
  const all = seeds();
  // Split into chunks so a slow machine stays inside the per-test timeout and vitest reports progress.
  const chunk = 50;
  for (let i = 0; i < all.length; i += chunk) {
    const part = all.slice(i, i + chunk);
    it(`seeds ${part[0]}..${part[part.length - 1]}`, async () => {
      const results: SeedResult[] = [];
      for (const seed of part) {
        results.push(runSeed(seed, { verbose }));
        await new Promise((resolve) => setImmediate(resolve)); // let the vitest worker talk to its parent
      }
      const settle = results.flatMap((r) => r.settleTicks).sort((a, b) => a - b);
      const steps = results.reduce((s, r) => s + r.steps, 0);
      console.log(
        `VOPR seeds ${part[0]}..${part[part.length - 1]}: ${steps} checked steps, ` +
        `settle ticks median ${settle[settle.length >> 1]} max ${settle[settle.length - 1]}`,
      );
      expect(results).toHaveLength(part.length);
    }, 120_000);
  }
});
