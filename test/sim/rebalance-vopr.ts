/**
 * The rebalance VOPR: one seed → one randomized run of the rebalance simulator (rebalance-sim.ts).
 * The seed draws the shape of the run, then drives it:
 *
 *   cluster    replication factor 2 (3 in a quarter of the seeds), 3–5 nodes at the start (up to
 *              LIVE_NODES_MAX over the run, ids from NODE_ID_POOL)
 *   data       30–200 keys over 3–10 partitions, migration chunks of 1–4 records, 1–4 moves out
 *              of a node and into one target at once, snapshot or live-cursor streams
 *   faults     400–800 steps, 0.5–2 % of them faults, each kind weighted per seed (splits in
 *              half of the seeds); 15–40 % of steps are client operations
 *   quiet      then everything restarts and heals, and runs to completion (RebalanceSim.quiet)
 */
import { migrationLimits } from "../../server/core/migration-plan.js";
import { seededRng, type Rng } from "../../server/core/rng.js";
import { RebalanceSim, type FaultWeights, type RebalanceSimOptions } from "./rebalance-sim.js";
import type { RebalanceChecker } from "./rebalance-invariants.js";
import { SHELL_AS_DESIGNED } from "./rebalance-shell.js";

/** What one seed did, for the test's summary line. */
export interface SeedResult {
  readonly seed: number;
  /** Steps checked, all phases. */
  readonly steps: number;
  readonly quietSteps: number;
  /** Ownerships computed (cache misses of CoreCache). */
  readonly recomputes: number;
  readonly stats: RebalanceChecker["stats"];
  /** Keys whose checks were relaxed to "copies agree" (see rebalance-invariants.ts). */
  readonly forkedKeys: number;
  readonly faults: number;
  readonly options: RebalanceSimOptions;
}

/** Fault weights of a seed: each kind scaled by 0.3–1.7; splits in half of the seeds only. */
export function randomFaults(rng: Rng): FaultWeights {
  const w = (base: number) => base * (0.3 + 1.4 * rng.float());
  return {
    crash: w(3), restart: w(6), add: w(1.5), remove: w(1), split: rng.bool(0.5) ? w(1) : 0, heal: w(4), moveFailure: w(4),
  };
}

/** The options a seed draws (each can be overridden). */
export function seedOptions(seed: number, overrides: Partial<RebalanceSimOptions> = {}, rng: Rng = seededRng(seed)): RebalanceSimOptions {
  return {
    seed,
    rf: rng.bool(0.25) ? 3 : 2,
    nodes: 3 + rng.int(3),
    keys: 30 + rng.int(170),
    hotPartitions: 3 + rng.int(8),
    chunkRecords: 1 + rng.int(4),
    limits: migrationLimits({ outMax: 1 + rng.int(4), inMax: 1 + rng.int(4) }),
    snapshotStreams: rng.bool(),
    shell: SHELL_AS_DESIGNED,
    mutation: "none",
    faults: randomFaults(rng),
    faultRate: 0.005 + 0.015 * rng.float(),
    clientRate: 0.15 + 0.25 * rng.float(),
    replicaLoss: 0,
    faultSteps: 400 + rng.int(400),
    verbose: false,
    tracePid: -1,
    ...overrides,
  };
}

/** Runs one seed to the end; throws SimFailure (seed, step, trace) on the first broken invariant. */
export function runSeed(seed: number, overrides: Partial<RebalanceSimOptions> = {}): SeedResult {
  const rng = seededRng(seed);
  const options = seedOptions(seed, overrides, rng);
  const sim = new RebalanceSim(options, rng.fork());
  sim.start();
  sim.runFaults(options.faultSteps);
  const quietSteps = sim.quiet();
  return {
    seed, steps: sim.step, quietSteps, recomputes: sim.core.computed, stats: sim.checker.stats,
    forkedKeys: sim.checker.forkedKeys(), faults: sim.faults, options,
  };
}
