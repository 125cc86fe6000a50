/**
 * Goal: measure how fast membership converges, with the default tuning (heartbeat every 150 ms,
 * missedMax 10, quantum 3 ticks), and guard against regressions.
 * Method: on the simulator (delays of 1–2 ticks, no loss), over 40 seeds each:
 *   cold start   N fresh nodes boot at tick 0: ticks until all N have installed one cluster of
 *                all N ids (and until it is stable: every member acknowledged)
 *   crash        in a converged cluster of 5, crash one node (a random non-principal, or the
 *                principal): ticks until the 4 survivors have installed one cluster of exactly them
 * Prints a table (ticks; ms at 150 ms per tick).
 */
import { describe, expect, it } from "vitest";
import { sortNodeIdsDesc, view } from "../../server/core/membership.js";
import { pick, seededRng } from "../../server/core/rng.js";
import { ClusterSim } from "./cluster-sim.js";
import { randomIds } from "./vopr.js";

const SEEDS = 40;
const TICK_MS = 150;

/** Ticks until every node of `group` has installed one cluster of exactly `group` (not necessarily acknowledged). */
function ticksUntilInstalled(sim: ClusterSim, group: string[], max: number): number {
  const expected = sortNodeIdsDesc(group).join(" ");
  const start = sim.now;
  for (;;) {
    const views = group.map((id) => view(sim.node(id).state));
    if (views.every((v) => v.clusterKey !== null && v.clusterKey === views[0]!.clusterKey && v.succession.join(" ") === expected)) {
      return sim.now - start;
    }
    if (sim.now - start >= max) sim.fail("liveness", `no common install within ${max} ticks`);
    sim.runTick();
  }
}

function stats(values: number[]): { median: number; p90: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)]!, p90: s[Math.floor(0.9 * (s.length - 1))]!, max: s[s.length - 1]! };
}

function row(label: string, values: number[]): string {
  const { median, p90, max } = stats(values);
  return `${label.padEnd(34)} median ${String(median).padStart(3)}  p90 ${String(p90).padStart(3)}  max ${String(max).padStart(3)} ticks` +
    `   (median ${median * TICK_MS} ms)`;
}

function boot(seed: number, n: number): ClusterSim {
  const rng = seededRng(seed * 7919 + n);
  const sim = new ClusterSim({ seed });
  sim.net.delayMin = 1;
  sim.net.delayMax = 2;
  for (const id of randomIds(rng, n)) sim.addNode(id);
  return sim;
}

describe("membership convergence (default tuning)", () => {
  it("cold start and crash recovery", () => {
    const lines: string[] = [];
    for (const n of [1, 3, 5, 8]) {
      const installed: number[] = [];
      const stable: number[] = [];
      for (let seed = 1; seed <= SEEDS; seed++) {
        const sim = boot(seed, n);
        installed.push(ticksUntilInstalled(sim, sim.ids(), 60));
        stable.push(installed[installed.length - 1]! + sim.awaitConverged(60));
      }
      lines.push(row(`cold start N=${n}: one cluster`, installed), row(`cold start N=${n}: stable`, stable));
      expect(stats(installed).median).toBeLessThanOrEqual(12);
    }
    for (const victim of ["non-principal", "principal"] as const) {
      const recovery: number[] = [];
      for (let seed = 1; seed <= SEEDS; seed++) {
        const sim = boot(seed, 5);
        sim.awaitConverged(60);
        sim.hold(10);
        const principal = sortNodeIdsDesc(sim.ids())[0]!;
        const id = victim === "principal" ? principal : pick(seededRng(seed), sim.ids().filter((x) => x !== principal));
        sim.crash(id);
        recovery.push(ticksUntilInstalled(sim, sim.ids().filter((x) => x !== id), 60));
        sim.awaitConverged(60);
      }
      lines.push(row(`crash of the ${victim} (N=5)`, recovery));
      expect(stats(recovery).median).toBeLessThanOrEqual(10 + 10);
    }
    console.log("membership convergence, delay 1-2 ticks, missedMax 10, quantum 3:\n" + lines.join("\n"));
  }, 60_000);
});
