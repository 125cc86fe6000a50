/**
 * Partition-map balance and movement benchmark (server/core/partition-map.ts).
 *
 * For each cluster size N = 2..32 it builds the map of N random-looking node ids (fixed seed, so
 * runs repeat exactly), then the map after one more node joins and after each node in turn leaves,
 * and prints:
 * - masters max/mean, copies max/mean: the most-loaded node over the mean (1 = perfect);
 * - join, leave: copies added (a node now holds a partition it did not) over the minimum any two
 *   perfectly balanced maps need (movementFloor: C/(N+1) for a join, C/N for a leave, C = 4096·R);
 *   leave is averaged over which node leaves, "worst" is the worst leaver over all trials;
 * - master join/leave: partitions whose master changed over the minimum 4096/(N+1) resp. 4096/N;
 * - ms: time to compute one map of N nodes.
 * Ratios are averaged over `--trials` independent id sets (worst columns: maximum over them).
 *
 * Usage: node dist/bench/balance.js [--rf 2] [--trials 4] [--seed 1] [--min 2] [--max 32] [--scheme shoal|hrw]
 * `--scheme hrw` measures plain rendezvous hashing (top R by hash) for comparison.
 */
import { PARTITION_COUNT } from "../client/protocol/constants.js";
import {
  computePartitionMap, describeBalance, fmix32, mapDiff, movementFloor, PartitionMap,
} from "../server/core/partition-map.js";

interface Options {
  readonly rf: number;
  readonly trials: number;
  readonly seed: number;
  readonly min: number;
  readonly max: number;
  readonly scheme: "shoal" | "hrw";
}

function parseOptions(argv: readonly string[]): Options {
  const opts = { rf: 2, trials: 4, seed: 1, min: 2, max: 32, scheme: "shoal" as Options["scheme"] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (flag === "--scheme" && (value === "shoal" || value === "hrw")) { opts.scheme = value; i++; continue; }
    const key = flag.replace(/^--/, "") as "rf" | "trials" | "seed" | "min" | "max";
    if (!["rf", "trials", "seed", "min", "max"].includes(key) || value === undefined || !/^\d+$/.test(value)) {
      throw new Error(`unknown or malformed flag ${flag} ${value ?? ""}; usage: --rf N --trials N --seed N --min N --max N --scheme shoal|hrw`);
    }
    opts[key] = Number(value);
    i++;
  }
  if (opts.rf < 1 || opts.trials < 1 || opts.min < 2 || opts.max < opts.min) {
    throw new Error("need --rf ≥ 1, --trials ≥ 1, 2 ≤ --min ≤ --max");
  }
  return opts;
}

/** mulberry32: a seeded 32-bit generator, so id sets repeat from run to run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function nodeIds(count: number, next: () => number): string[] {
  const ids = new Set<string>();
  while (ids.size < count) {
    const hex = next().toString(16).padStart(8, "0") + next().toString(16).padStart(8, "0");
    ids.add(hex.replace(/^0+(?=.)/, "").toUpperCase());
  }
  return [...ids];
}

/** Plain rendezvous hashing (top R of a per-pair hash), as a PartitionMap, for comparison. */
function rendezvousMap(ids: readonly string[], rf: number): PartitionMap {
  const value = (id: string): string => id.padStart(16, "0");
  const nodes = [...ids].sort((a, b) => (value(a) < value(b) ? -1 : 1));
  const r = Math.min(rf, nodes.length);
  const seeds = nodes.map((id) => hash32(parseInt(value(id).slice(0, 8), 16) ^ hash32(parseInt(value(id).slice(8), 16))));
  const table = new Uint16Array(PARTITION_COUNT * r);
  for (let pid = 0; pid < PARTITION_COUNT; pid++) {
    const order = nodes.map((_, i) => i).sort((a, b) => hash32(seeds[b]! ^ hash32(pid)) - hash32(seeds[a]! ^ hash32(pid)) || a - b);
    for (let i = 0; i < r; i++) table[pid * r + i] = order[i]!;
  }
  return new PartitionMap(nodes, rf, table);
}

/** murmur3's finaliser, the one the partition map uses. */
const hash32 = fmix32;

interface Row {
  n: number; mastersBal: number; copiesBal: number;
  join: number; joinWorst: number; leave: number; leaveWorst: number;
  masterJoin: number; masterLeave: number; ms: number;
}

/** Ratio to the floor; a change that needs no movement and makes none counts as optimal (1). */
function ratio(moved: number, floor: number): number {
  return floor === 0 ? (moved === 0 ? 1 : Infinity) : moved / floor;
}

function measure(n: number, opts: Options): Row {
  const build = opts.scheme === "hrw" ? rendezvousMap : computePartitionMap;
  const row: Row = { n, mastersBal: 0, copiesBal: 0, join: 0, joinWorst: 0, leave: 0, leaveWorst: 0, masterJoin: 0, masterLeave: 0, ms: 0 };
  for (let t = 0; t < opts.trials; t++) {
    const ids = nodeIds(n + 1, rng(opts.seed * 1_000_003 + n * 7919 + t));
    const base = ids.slice(0, n);
    const started = performance.now();
    const map = build(base, opts.rf);
    row.ms += (performance.now() - started) / opts.trials;
    const balance = describeBalance(map);
    row.mastersBal = Math.max(row.mastersBal, balance.mastersMaxOverMean);
    row.copiesBal = Math.max(row.copiesBal, balance.copiesMaxOverMean);

    const joined = build(ids, opts.rf);
    const joinDiff = mapDiff(map, joined);
    const joinFloor = movementFloor(base, ids, opts.rf);
    const join = ratio(joinDiff.copiesAdded, joinFloor.copies);
    row.join += join / opts.trials;
    row.joinWorst = Math.max(row.joinWorst, join);
    row.masterJoin += ratio(joinDiff.mastersChanged, joinFloor.masters) / opts.trials;

    for (const leaver of base) {
      const rest = base.filter((id) => id !== leaver);
      const diff = mapDiff(map, build(rest, opts.rf));
      const floor = movementFloor(base, rest, opts.rf);
      const leave = ratio(diff.copiesAdded, floor.copies);
      row.leave += leave / (opts.trials * n);
      row.leaveWorst = Math.max(row.leaveWorst, leave);
      row.masterLeave += ratio(diff.mastersChanged, floor.masters) / (opts.trials * n);
    }
  }
  return row;
}

function main(): void {
  const opts = parseOptions(process.argv.slice(2));
  const f = (x: number): string => x.toFixed(3);
  console.log(`partition map ${opts.scheme}: rf ${opts.rf}, ${PARTITION_COUNT} partitions, ${opts.trials} id sets per N (seed ${opts.seed})`);
  console.log("movement = copies added / minimum (C/(N+1) join, C/N leave); master = masters changed / minimum");
  console.log("|  N | masters max/mean | copies max/mean | join  | join worst | leave | leave worst | master join | master leave | ms    |");
  console.log("|---:|-----------------:|----------------:|------:|-----------:|------:|------------:|------------:|-------------:|------:|");
  for (let n = opts.min; n <= opts.max; n++) {
    const r = measure(n, opts);
    console.log(`| ${String(n).padStart(2)} | ${f(r.mastersBal).padStart(16)} | ${f(r.copiesBal).padStart(15)} | ${f(r.join)} | ${f(r.joinWorst).padStart(10)} | ${f(r.leave)} | ${f(r.leaveWorst).padStart(11)} | ${f(r.masterJoin).padStart(11)} | ${f(r.masterLeave).padStart(12)} | ${r.ms.toFixed(1).padStart(5)} |`);
  }
}

main();
