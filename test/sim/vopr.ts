/**
 * The membership VOPR: one seed → one randomized run (cluster size, node ids, tuning, fault mix),
 * in rounds of
 *
 *   faults   100–250 ticks of random faults: partitions, one-way cuts, lossy links, global loss,
 *            duplication, delay changes, crashes, restarts, quick bounces
 *   settle   faults stop: the network heals, or is left as a clean partition (each group must
 *            then form its own cluster), or as a static non-transitive topology with one-way
 *            cuts (the groups must then be the greedy cliques, ClusterSim.components); crashed
 *            nodes restart or stay down; in-flight packets still arrive. Every group of live nodes must converge on one stable cluster of
 *            exactly its members within SETTLE_TICKS_MAX ticks (looked for only after
 *            missedMax + delayMax ticks: until then, silence from the fault phase may still
 *            legitimately cost a peer)
 *   hold     HOLD_TICKS more ticks in which nothing may change
 *
 * Safety invariants run after every step throughout (invariants.ts).
 */
import type { NodeId } from "../../server/core/membership.js";
import { pick, randomHex64, seededRng, shuffle, type Rng } from "../../server/core/rng.js";
import { ClusterSim, type MembershipTuning } from "./cluster-sim.js";

export const SETTLE_TICKS_MAX = 60;
export const HOLD_TICKS = 30;

/** Per-tick probabilities of each fault; drawn per seed so that seeds explore different mixes. */
export interface FaultProfile {
  readonly partition: number;
  readonly healPartition: number;
  readonly cut: number;
  readonly uncut: number;
  readonly linkLoss: number;
  readonly globalLoss: number;
  readonly duplicate: number;
  readonly delay: number;
  readonly crash: number;
  readonly restart: number;
  readonly bounce: number;
}

export function randomProfile(rng: Rng): FaultProfile {
  const scale = pick(rng, [0.3, 1, 2]);
  const p = (base: number) => Math.min(1, base * scale * (0.5 + rng.float()));
  return {
    partition: p(0.02), healPartition: p(0.04), cut: p(0.03), uncut: p(0.05), linkLoss: p(0.02),
    globalLoss: p(0.02), duplicate: p(0.01), delay: p(0.02), crash: p(0.01), restart: p(0.04), bounce: p(0.005),
  };
}

/** Ids as the shell makes them: random 64-bit, sometimes small, so ordering by length matters. */
export function randomIds(rng: Rng, n: number): NodeId[] {
  const ids = new Set<NodeId>();
  while (ids.size < n) {
    const full = randomHex64(rng);
    ids.add(rng.bool(0.3) ? full.slice(0, 1 + rng.int(4)).replace(/^0+/, "") || "1" : full);
  }
  return [...ids];
}

export function injectFaults(sim: ClusterSim, rng: Rng, profile: FaultProfile): void {
  const ids = sim.ids();
  const net = sim.net;
  if (rng.bool(profile.partition) && ids.length > 1) {
    const k = 2 + rng.int(Math.min(2, ids.length - 1));
    const groups: NodeId[][] = Array.from({ length: k }, () => []);
    for (const id of shuffle(rng, [...ids])) groups[rng.int(k)]!.push(id);
    net.partition(groups);
    sim.note(`FAULT partition ${groups.map((g) => `{${g.join(" ")}}`).join(" ")}`);
  }
  if (rng.bool(profile.healPartition)) {
    net.healPartition();
    sim.note("FAULT heal partition");
  }
  if (rng.bool(profile.cut) && ids.length > 1) {
    const [a, b] = shuffle(rng, [...ids]);
    net.cut(a!, b!);
    sim.note(`FAULT cut ${a}>${b}`);
  }
  const cuts = net.cutList();
  if (rng.bool(profile.uncut) && cuts.length > 0) {
    const [a, b] = pick(rng, cuts).split(">");
    net.uncut(a!, b!);
    sim.note(`FAULT uncut ${a}>${b}`);
  }
  if (rng.bool(profile.linkLoss) && ids.length > 1) {
    const [a, b] = shuffle(rng, [...ids]);
    const loss = rng.bool(0.3) ? 0 : pick(rng, [0.3, 0.6, 0.9, 1]);
    net.setLinkLoss(a!, b!, loss);
    sim.note(`FAULT link loss ${a}>${b} ${loss}`);
  }
  if (rng.bool(profile.globalLoss)) {
    net.loss = pick(rng, [0, 0, 0.05, 0.2, 0.5]);
    sim.note(`FAULT loss ${net.loss}`);
  }
  if (rng.bool(profile.duplicate)) {
    net.duplicate = pick(rng, [0, 0.05, 0.2]);
    sim.note(`FAULT duplicate ${net.duplicate}`);
  }
  if (rng.bool(profile.delay)) {
    net.delayMax = 1 + rng.int(5);
    sim.note(`FAULT delay 1..${net.delayMax}`);
  }
  const live = sim.live();
  if (rng.bool(profile.crash) && live.length > 0) sim.crash(pick(rng, live).id);
  const dead = [...sim.nodes.values()].filter((n) => !n.alive);
  if (rng.bool(profile.restart) && dead.length > 0) sim.restart(pick(rng, dead).id);
  if (rng.bool(profile.bounce) && live.length > 0) {
    const id = pick(rng, live).id;
    sim.crash(id);
    sim.restart(id);
  }
}

/** Faults stop: heal (or leave a clean partition), restart some crashed nodes. */
export function settle(sim: ClusterSim, rng: Rng): void {
  const net = sim.net;
  net.healAll();
  net.delayMax = Math.min(net.delayMax, 3);
  const ids = sim.ids();
  const shape = ids.length > 1 ? rng.float() : 1;
  if (shape < 0.5) {
    const groups: NodeId[][] = [[], []];
    for (const id of shuffle(rng, [...ids])) groups[rng.int(2)]!.push(id);
    net.partition(groups);
    sim.note(`SETTLE clean partition ${groups.map((g) => `{${g.join(" ")}}`).join(" ")}`);
  }
  if (shape < 0.25) {
    // A static but non-transitive topology: one-way cuts too. Expected: the greedy cliques.
    const cuts = 1 + rng.int(ids.length);
    for (let i = 0; i < cuts; i++) {
      const [a, b] = shuffle(rng, [...ids]);
      net.cut(a!, b!);
    }
    sim.note(`SETTLE static cuts ${net.cutList().join(",")}`);
  }
  if (shape >= 0.5) sim.note("SETTLE network healed");
  for (const node of [...sim.nodes.values()]) if (!node.alive && rng.bool(0.7)) sim.restart(node.id);
}

export interface SeedResult {
  readonly seed: number;
  readonly nodes: number;
  readonly ticks: number;
  /** Ticks each settle phase took to converge. */
  readonly settleTicks: number[];
  readonly installs: number;
  readonly steps: number;
  readonly packets: number;
}

export interface SeedOptions {
  readonly rounds?: number;
  readonly verbose?: boolean;
  readonly tuning?: MembershipTuning;
}

export function runSeed(seed: number, options: SeedOptions = {}): SeedResult {
  const rng = seededRng(seed);
  const n = 1 + rng.int(8);
  const tuning: MembershipTuning = options.tuning ?? {
    missedMax: pick(rng, [4, 6, 10, 10, 12]),
    quantumTicks: pick(rng, [1, 2, 3, 3, 4]),
    retryTicks: pick(rng, [1, 2, 3]),
    peersMax: 64,
  };
  const sim = new ClusterSim({ seed, membership: tuning, verbose: options.verbose ?? false });
  sim.note(`SEED ${seed}: ${n} nodes, ${JSON.stringify(tuning)}`);
  for (const id of randomIds(rng, n)) sim.addNode(id);
  sim.net.delayMax = 1 + rng.int(3);
  const profile = randomProfile(rng);
  const settleTicks: number[] = [];
  for (let round = 0; round < (options.rounds ?? 2); round++) {
    const faultTicks = 100 + rng.int(150);
    for (let t = 0; t < faultTicks; t++) {
      injectFaults(sim, rng, profile);
      sim.runTick();
    }
    settle(sim, rng);
    const quiet = (tuning.missedMax ?? 10) + sim.net.delayMax;
    settleTicks.push(sim.awaitConverged(SETTLE_TICKS_MAX, undefined, quiet));
    sim.hold(HOLD_TICKS);
  }
  return {
    seed, nodes: n, ticks: sim.now, settleTicks, installs: sim.installs, steps: sim.checker.checks,
    packets: sim.net.stats.sent,
  };
}
