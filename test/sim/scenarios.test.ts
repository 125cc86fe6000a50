/**
 * Goal: the membership protocol does the right thing in the situations the issue names — cold
 * start, a lone node, crash and restart, split brain and heal, one-way and lossy links, a
 * flapping node.
 * Method: each scripts/*.scenario file (syntax in scenario.ts) runs on the simulator under
 * several seeds (delays and delivery order differ per seed); safety invariants are checked after
 * every step, `await`/`hold` lines check convergence and stability.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runScenario } from "./scenario.js";

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "scenarios");
const seeds = process.env.SIM_SEED !== undefined ? [Number(process.env.SIM_SEED)] : Array.from({ length: 8 }, (_, i) => i + 1);

describe("membership scenarios", () => {
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".scenario")).sort()) {
    it(file, () => {
      const script = fs.readFileSync(path.join(dir, file), "utf8");
      const worst = new Map<string, number>();
      for (const seed of seeds) {
        const { awaits } = runScenario(script, seed, { verbose: process.env.SIM_VERBOSE === "1" });
        for (const a of awaits) worst.set(a.line, Math.max(worst.get(a.line) ?? 0, a.ticks));
      }
      console.log(`${file} (worst over ${seeds.length} seeds):\n` + [...worst].map(([line, t]) => `  ${String(t).padStart(3)} ticks  ${line}`).join("\n"));
      expect(worst.size).toBeGreaterThan(0);
    });
  }
});
