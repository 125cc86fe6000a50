/**
 * Goal: the migration planner (server/core/migration-plan.ts) sends exactly what the map change
 * requires (fills from the acting master to succession nodes that lack a partition, merges of
 * copies from another history into the acting master), in a deterministic priority order, under
 * bounded concurrency; and, driven round after round, it converges: every partition ends with R
 * full copies on exactly its succession nodes, every other copy dropped, and no acknowledged
 * write lost, through joins, crashes, restarts, split brain and heals.
 *
 * Method: (1) fast-check properties of one plan over random clusters and random holdings,
 * compared with the sets the rules define; (2) properties of nextMoves over random plans and
 * in-flight sets; (3) a scripted scenario (3 fresh nodes → a 4th joins → one crashes → it
 * restarts) with assertions at each step; (4) a model: a whole cluster simulated in rounds, where
 * each round computes ownership, claims genesis partitions, writes one token per tracked
 * partition to its write targets, completes a random subset of every node's planned moves (the
 * rest may leave partial data), and drops what is dropSafe. Every record is a token in a Set per
 * (node, partition), so "no write lost" is checked exactly. Cluster events (join, crash, restart,
 * split, heal) interrupt migrations after a random number of rounds.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { idsArb, prng, randomBitmap } from "./fixtures/ownership-fixtures.js";
import { PARTITION_COUNT } from "../../client/protocol/constants.js";
import { compareNodeIds } from "../../server/core/membership.js";
import { computePartitionMap, type PartitionMap } from "../../server/core/partition-map.js";
import {
  bootHoldings, computeOwnership, hasPartition, nextHoldings, partitionBitmapOf, type Holdings, type HoldingsEvent,
  type Ownership,
} from "../../server/core/partition-ownership.js";
import {
  migrationLimits, MIGRATIONS_IN_MAX_DEFAULT, MIGRATIONS_OUT_MAX_DEFAULT, type Move, moveKey, MoveKind, nextMoves,
  planMigrations,
} from "../../server/core/migration-plan.js";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`check failed: ${what}`);
}

interface RandomCluster {
  readonly map: PartitionMap;
  readonly holdings: Map<string, Holdings>;
  readonly own: Ownership;
}

/** Random members, rf and holdings (as in partition-ownership.test.ts). */
const clusterArb: fc.Arbitrary<RandomCluster> = idsArb(2, 6).chain((ids) => fc.record({
  ids: fc.constant(ids),
  rf: fc.integer({ min: 1, max: 3 }),
  specs: fc.array(fc.record({
    full: fc.constantFrom(0, 0.02, 0.3, 0.8, 1),
    partial: fc.constantFrom(0, 0.05, 0.3),
    current: fc.constantFrom(0, 0, 0.1, 0.5),
    unmerged: fc.constantFrom(0, 0, 0.05, 0.5),
    key: fc.constantFrom<string | null>(null, "K1", "K1", "K2"),
    seed: fc.integer(),
  }), { minLength: ids.length, maxLength: ids.length }),
})).map(({ ids, rf, specs }) => {
  const map = computePartitionMap(ids, rf);
  const holdings = new Map(ids.map((id, i) => {
    const spec = specs[i]!;
    const rand = prng(spec.seed);
    const h: Holdings = {
      node: id, lastClusterKey: spec.key, full: randomBitmap(rand, spec.full), partial: randomBitmap(rand, spec.partial),
      current: randomBitmap(rand, spec.current), unmerged: randomBitmap(rand, spec.unmerged),
    };
    return [id, h];
  }));
  return { map, holdings, own: computeOwnership(map, holdings) };
});

/** The order the planner promises, as a comparator over moves (of one plan, under `own`). */
function planOrder(own: Ownership): (a: Move, b: Move) => number {
  const r = own.map.replicationFactor;
  const rank = (m: Move): number[] => [own.successionFullCopies(m.pid) < r ? 0 : 1, own.fullCopies(m.pid), m.pid, m.kind === MoveKind.MERGE ? 0 : 1];
  return (a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!;
    return compareNodeIds(a.to, b.to);
  };
}

// ---------------------------------------------------------------------------------------------
// One plan
// ---------------------------------------------------------------------------------------------

describe("planMigrations: properties", () => {
  it("fills are exactly acting master → succession nodes that lack the partition; a full node never receives one", () => {
    fc.assert(fc.property(clusterArb, ({ map, holdings, own }) => {
      const fills = new Set<string>();
      for (const self of map.nodes) {
        for (const m of planMigrations(own, map, holdings, self)) {
          check(m.from === self, "moves leave the planning node");
          if (m.kind !== MoveKind.FILL) continue;
          const key = `${m.pid}>${m.to}`;
          check(!fills.has(key), `one fill of ${key} in the whole cluster`);
          fills.add(key);
          check(own.actingMaster(m.pid) === self, `fill of ${m.pid} from its acting master`);
          check(!hasPartition(holdings.get(m.to)!.full, m.pid), `fill of ${m.pid} to ${m.to}, which is not full`);
        }
      }
      for (let pid = 0; pid < PARTITION_COUNT; pid++) {
        for (const to of map.succession(pid)) {
          const wanted = to !== own.actingMaster(pid) && !own.isFull(pid, to) && !own.needsMerge(pid, to);
          check(wanted === fills.has(`${pid}>${to}`), `fill of ${pid} to ${to} planned iff wanted`);
        }
      }
    }), { numRuns: 40 });
  });

  it("merges go from a copy of another line to the acting master, and only then", () => {
    fc.assert(fc.property(clusterArb, ({ map, holdings, own }) => {
      for (const self of map.nodes) {
        const merges = new Map(planMigrations(own, map, holdings, self)
          .filter((m) => m.kind === MoveKind.MERGE).map((m) => [m.pid, m]));
        const h = holdings.get(self)!;
        for (let pid = 0; pid < PARTITION_COUNT; pid++) {
          const move = merges.get(pid);
          check((move !== undefined) === own.needsMerge(pid, self), `merge of ${pid} by ${self} iff it needs one`);
          if (move === undefined) continue;
          check(move.to === own.actingMaster(pid) && move.to !== self, `merge of ${pid} goes to the acting master`);
          // Never between two copies of one history: a full, carried, keyed copy merges only if
          // its key differs from that of the copy the acting master's line comes from (a carried
          // full one, or a handed-over one marked unmerged, which is a line of its own).
          const full = hasPartition(h.full, pid);
          const carried = !hasPartition(h.current, pid);
          check(carried, `a copy made in this cluster (${pid} on ${self}) never merges`);
          if (full && !hasPartition(h.unmerged, pid) && h.lastClusterKey !== null) {
            const succession = map.succession(pid);
            const lineSource = (id: string): boolean => {
              const x = holdings.get(id)!;
              return hasPartition(x.current, pid)
                ? hasPartition(x.unmerged, pid) && (hasPartition(x.full, pid) || hasPartition(x.partial, pid))
                : hasPartition(x.full, pid);
            };
            const source = succession.find(lineSource) ?? [...map.nodes].reverse().find(lineSource)!;
            const sourceHoldings = holdings.get(source)!;
            check(hasPartition(sourceHoldings.unmerged, pid) || sourceHoldings.lastClusterKey !== h.lastClusterKey,
              `merge of ${pid} from ${self} only between different cluster keys`);
          }
        }
      }
    }), { numRuns: 40 });
  });

  it("is deterministic and ordered: redundancy first, fewest copies first, then pid, merges before fills", () => {
    fc.assert(fc.property(clusterArb, ({ map, holdings, own }) => {
      const order = planOrder(own);
      for (const self of map.nodes) {
        const plan = planMigrations(own, map, holdings, self);
        expect(planMigrations(computeOwnership(map, holdings), map, holdings, self)).toEqual(plan);
        for (let i = 1; i < plan.length; i++) check(order(plan[i - 1]!, plan[i]!) < 0, `plan of ${self} sorted at ${i}`);
      }
    }), { numRuns: 30 });
  });

  it("a settled cluster plans nothing; a fresh one plans only fills from the genesis masters", () => {
    const ids = ["A1", "B2", "C3", "D4"];
    const map = computePartitionMap(ids, 3);
    const settled = new Map(ids.map((id) => [id, { node: id, lastClusterKey: "K1", full: partitionBitmapOf(map.partitionsOf(id)) }]));
    const own = computeOwnership(map, settled);
    for (const id of ids) expect(planMigrations(own, map, settled, id)).toEqual([]);
    const fresh = new Map(ids.map((id) => [id, bootHoldings(id)]));
    const genesis = computeOwnership(map, fresh);
    let fills = 0;
    for (const id of ids) {
      for (const m of planMigrations(genesis, map, fresh, id)) {
        expect(m.kind).toBe(MoveKind.FILL);
        expect(map.master(m.pid)).toBe(id);
        fills++;
      }
    }
    expect(fills).toBe(PARTITION_COUNT * 2);
  });

  it("refuses an ownership of another map or a planning node that is not a member", () => {
    const map = computePartitionMap(["A1", "B2"], 2);
    const other = computePartitionMap(["A1", "B2", "C3"], 2);
    const holdings = new Map(["A1", "B2"].map((id) => [id, bootHoldings(id)]));
    const own = computeOwnership(map, holdings);
    expect(() => planMigrations(own, other, holdings, "A1")).toThrow(/map/);
    expect(() => planMigrations(own, map, holdings, "C3")).toThrow(/member/);
  });
});

// ---------------------------------------------------------------------------------------------
// Bounded concurrency
// ---------------------------------------------------------------------------------------------

describe("nextMoves", () => {
  const targets = ["A1", "B2", "C3", "D4"];
  const moveArb: fc.Arbitrary<Move> = fc.record({
    pid: fc.integer({ min: 0, max: 40 }),
    from: fc.constant("F0"),
    to: fc.constantFrom(...targets),
    kind: fc.constantFrom(MoveKind.FILL, MoveKind.MERGE),
  });
  const planArb = fc.uniqueArray(moveArb, { maxLength: 60, selector: moveKey });

  it("starts moves in plan order within outMax and inMax, skipping those in flight, as many as allowed", () => {
    fc.assert(fc.property(planArb, fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }),
      (plan, running, outMax, inMax) => {
        const inFlightMoves = plan.slice(0, running);
        const out = new Set(inFlightMoves.map(moveKey));
        const perTargetCount = new Map<string, number>();
        for (const m of inFlightMoves) perTargetCount.set(m.to, (perTargetCount.get(m.to) ?? 0) + 1);
        const picked = nextMoves(plan, { out, perTargetCount }, migrationLimits({ outMax, inMax }));
        // In plan order, none already running.
        let cursor = 0;
        for (const m of picked) {
          expect(out.has(moveKey(m))).toBe(false);
          cursor = plan.indexOf(m, cursor) + 1;
          expect(cursor).toBeGreaterThan(0);
        }
        // Within the limits, counting what already runs.
        expect(out.size + picked.length).toBeLessThanOrEqual(Math.max(outMax, out.size));
        if (out.size >= outMax) expect(picked).toEqual([]);
        const into = new Map(perTargetCount);
        for (const m of picked) into.set(m.to, (into.get(m.to) ?? 0) + 1);
        for (const t of targets) {
          const started = picked.filter((m) => m.to === t).length;
          if (started > 0) expect(into.get(t)).toBeLessThanOrEqual(inMax);
        }
        // Greedy: a move left out while out-slots remained had its target full.
        if (out.size + picked.length < outMax) {
          for (const m of plan) {
            if (out.has(moveKey(m)) || picked.includes(m)) continue;
            expect(into.get(m.to) ?? 0).toBeGreaterThanOrEqual(inMax);
          }
        }
      }), { numRuns: 300 });
  });

  it("defaults to 4 out and 4 into one target, and checks its limits", () => {
    expect(migrationLimits()).toEqual({ outMax: MIGRATIONS_OUT_MAX_DEFAULT, inMax: MIGRATIONS_IN_MAX_DEFAULT });
    expect(MIGRATIONS_OUT_MAX_DEFAULT).toBe(4);
    expect(MIGRATIONS_IN_MAX_DEFAULT).toBe(4);
    const plan: Move[] = Array.from({ length: 10 }, (_, pid) => ({ pid, from: "F0", to: pid < 6 ? "A1" : "B2", kind: MoveKind.FILL }));
    const picked = nextMoves(plan, { out: new Set(), perTargetCount: new Map() });
    expect(picked.map((m) => m.pid)).toEqual([0, 1, 2, 3]);
    const later = nextMoves(plan, { out: new Set(picked.slice(0, 3).map(moveKey)), perTargetCount: new Map([["A1", 3]]) });
    expect(later.map((m) => m.pid)).toEqual([3]);
    expect(() => migrationLimits({ outMax: 0 })).toThrow(/outMax = 0: must be an integer in \[1, 1024\]/);
    expect(() => migrationLimits({ inMax: 1.5 })).toThrow(/inMax/);
  });
});

// ---------------------------------------------------------------------------------------------
// The cluster model
// ---------------------------------------------------------------------------------------------

/** Partitions whose records the model tracks token by token (holdings cover all 4096). */
/**
 * Set TRACE_PID to print the model's view of one partition each round; MODEL_RUNS (and MODEL_SEED,
 * which also skips shrinking) for a longer hunt.
 */
const TRACE_PID = Number(process.env.TRACE_PID ?? -1);
const MODEL_RUNS = Number(process.env.MODEL_RUNS ?? 20);
const TRACKED = [0, 1, 2, 3, 511, 1024, 2047, 2048, 3000, 4095];

interface SimNode {
  readonly id: string;
  holdings: Holdings;
  /** The cluster this node is in, and the last ownership it computed there (the shell keeps both). */
  clusterKey: string | null;
  lastOwn: Ownership | null;
  /** Tokens per tracked partition: the records on this node's disk. */
  readonly data: Map<number, Set<number>>;
}

interface SimCluster {
  readonly key: string;
  readonly members: readonly string[];
  readonly map: PartitionMap;
}

/**
 * N nodes in one process, in one or more clusters. Each step does what the shell would do with
 * the pure core's answers; moves complete (or stall half done) as `rand` decides.
 */
class ClusterSim {
  readonly nodes = new Map<string, SimNode>();
  readonly down = new Map<string, SimNode>();
  clusters: SimCluster[] = [];
  /** Every token ever acknowledged, per tracked partition. */
  readonly written = new Map<number, Set<number>>(TRACKED.map((pid) => [pid, new Set()]));
  #keys = 0;
  #token = 0;

  constructor(readonly rf: number, readonly rand: () => number) {}

  /** A node process starts (fresh, or back from a crash with its disk). */
  boot(id: string): void {
    const old = this.down.get(id);
    this.down.delete(id);
    const data = old?.data ?? new Map<number, Set<number>>();
    const disk = old === undefined ? undefined : partitionBitmapOf(diskPartitions(old.holdings));
    this.nodes.set(id, { id, holdings: bootHoldings(id, disk), clusterKey: null, lastOwn: null, data });
  }

  /** The process dies: its holdings (memory) go, its data (disk) stays. */
  crash(id: string): void {
    const node = this.nodes.get(id)!;
    this.nodes.delete(id);
    this.down.set(id, node);
    this.clusters = this.clusters.filter((c) => c.members.some((m) => m !== id))
      .map((c) => c.members.includes(id) ? this.form(c.members.filter((m) => m !== id)) : c);
  }

  /** Installs a new cluster of `members` (they leave whatever cluster they were in). */
  form(members: readonly string[]): SimCluster {
    const key = `K${++this.#keys}`;
    for (const id of members) {
      const node = this.nodes.get(id)!;
      node.holdings = nextHoldings(node.holdings, { kind: "cluster-entered", previousClusterKey: node.clusterKey, lastOwnership: node.lastOwn });
      node.clusterKey = key;
      node.lastOwn = null;
    }
    return { key, members: [...members], map: computePartitionMap([...members], this.rf) };
  }

  setClusters(groups: readonly (readonly string[])[]): void {
    this.clusters = groups.filter((g) => g.length > 0).map((g) => this.form(g));
  }

  holdingsOf(c: SimCluster): Map<string, Holdings> {
    return new Map(c.members.map((id) => [id, this.nodes.get(id)!.holdings]));
  }

  ownership(c: SimCluster): Ownership {
    const own = computeOwnership(c.map, this.holdingsOf(c));
    for (const id of c.members) this.nodes.get(id)!.lastOwn = own;
    return own;
  }

  #apply(id: string, event: HoldingsEvent): void {
    const node = this.nodes.get(id)!;
    node.holdings = nextHoldings(node.holdings, event);
  }

  #set(id: string, pid: number): Set<number> {
    const data = this.nodes.get(id)!.data;
    let set = data.get(pid);
    if (set === undefined) { set = new Set(); data.set(pid, set); }
    return set;
  }

  /** One round in cluster `c`; returns whether anything was left to do. `completion`: chance a move finishes. */
  round(c: SimCluster, completion: number): boolean {
    let own = this.ownership(c);
    if (TRACE_PID >= 0) this.trace(c, own, "start");
    const genesis = new Map<string, number[]>();
    for (let pid = 0; pid < PARTITION_COUNT; pid++) {
      if (!own.genesis(pid)) continue;
      const master = own.actingMaster(pid);
      if (!genesis.has(master)) genesis.set(master, []);
      genesis.get(master)!.push(pid);
    }
    for (const [id, pids] of genesis) this.#apply(id, { kind: "genesis-claimed", pids });
    if (genesis.size > 0) own = this.ownership(c);
    this.checkServing(c, own);

    for (const pid of TRACKED) {
      const token = ++this.#token;
      this.written.get(pid)!.add(token);
      for (const id of own.writeTargets(pid)) {
        // A replica write is the first record a waiting fill target holds: it now has data.
        if (!own.holdsData(pid, id) && !own.isFull(pid, id)) this.#apply(id, { kind: "fill-started", pids: [pid] });
        this.#set(id, pid).add(token);
      }
    }

    const holdings = this.holdingsOf(c);
    const moves = c.members.flatMap((id) => planMigrations(own, c.map, holdings, id));
    const done = new Map<string, Map<HoldingsEvent["kind"], number[]>>();
    const record = (id: string, kind: HoldingsEvent["kind"], pid: number): void => {
      const byKind = done.get(id) ?? new Map<HoldingsEvent["kind"], number[]>();
      const pids = byKind.get(kind) ?? [];
      pids.push(pid);
      byKind.set(kind, pids);
      done.set(id, byKind);
    };
    for (const move of shuffle(moves, this.rand)) {
      const finished = this.rand() < completion;
      if (!finished && this.rand() < 0.5) continue; // not started
      const source = this.nodes.get(move.from)!.data.get(move.pid) ?? new Set<number>();
      const sent = finished ? [...source] : [...source].filter(() => this.rand() < 0.5);
      if (move.kind === MoveKind.FILL) {
        if (TRACKED.includes(move.pid)) for (const t of sent) this.#set(move.to, move.pid).add(t);
        record(move.to, finished ? "fill-completed" : "fill-started", move.pid);
      } else {
        // The acting master merges and replicates the winners to its write targets.
        if (TRACKED.includes(move.pid)) for (const id of own.writeTargets(move.pid)) for (const t of sent) this.#set(id, move.pid).add(t);
        if (finished) record(move.from, "merge-completed", move.pid);
      }
    }
    for (const [id, byKind] of done) {
      for (const [kind, pids] of byKind) this.#apply(id, { kind, pids } as HoldingsEvent);
    }

    own = this.ownership(c);
    if (TRACE_PID >= 0) {
      console.log("moves", moves.filter((m) => m.pid === TRACE_PID).map((m) => `${m.kind} ${m.from}->${m.to}`).join(", "));
      this.trace(c, own, "after moves");
    }
    let drops = 0;
    for (const id of c.members) {
      const droppable = own.partitionsToDrop(id);
      drops += droppable.length;
      const pids = droppable.filter(() => this.rand() < completion);
      if (pids.length === 0) continue;
      if (TRACE_PID >= 0 && pids.includes(TRACE_PID)) console.log(`drop ${TRACE_PID} at ${id}`);
      for (const pid of pids) this.nodes.get(id)!.data.delete(pid);
      this.#apply(id, { kind: "dropped", pids });
    }
    this.checkNoLoss();
    return genesis.size > 0 || moves.length > 0 || drops > 0;
  }

  trace(c: SimCluster, own: Ownership, when: string): void {
    const pid = TRACE_PID;
    console.log(`${c.key} ${when} succ=${c.map.succession(pid).join()} am=${own.actingMaster(pid)} genesis=${own.genesis(pid)}`);
    for (const id of c.members) {
      const h = this.nodes.get(id)!.holdings;
      const bits = ["full", "partial", "current", "unmerged"].filter((k) => hasPartition((h as unknown as Record<string, Uint8Array>)[k], pid));
      const data = [...(this.nodes.get(id)!.data.get(pid) ?? [])].sort((a, b) => a - b);
      console.log(`  ${id} key=${h.lastClusterKey} ${bits.join("+")} nm=${own.needsMerge(pid, id)} inLine=${own.inLine(pid, id)} data=${data.join(",")}`);
    }
  }

  /** Runs rounds until nothing is left to do; returns how many did something. */
  converge(c: SimCluster, completion: number, roundsMax: number): number {
    for (let rounds = 0; rounds <= roundsMax; rounds++) if (!this.round(c, completion)) return rounds;
    throw new Error(`no convergence within ${roundsMax} rounds`);
  }

  /** Everyone who may serve a read of a tracked partition has exactly the acting master's records. */
  checkServing(c: SimCluster, own: Ownership): void {
    for (const pid of TRACKED) {
      const master = own.actingMaster(pid);
      const expected = [...(this.nodes.get(master)!.data.get(pid) ?? [])].sort((a, b) => a - b).join();
      for (const id of own.claimants(pid)) {
        check(own.isFull(pid, id), `claimant ${id} of ${pid} is full`);
        const got = [...(this.nodes.get(id)!.data.get(pid) ?? [])].sort((a, b) => a - b).join();
        check(got === expected, `reader ${id} of ${pid} in ${c.key} has the acting master's (${master}) records`);
      }
    }
  }

  /** Every acknowledged token still lives somewhere: on a member or on a crashed node's disk. */
  checkNoLoss(): void {
    for (const pid of TRACKED) {
      const everywhere = new Set<number>();
      for (const node of [...this.nodes.values(), ...this.down.values()]) for (const t of node.data.get(pid) ?? []) everywhere.add(t);
      for (const t of this.written.get(pid)!) check(everywhere.has(t), `token ${t} of partition ${pid} survives`);
    }
  }

  /** The converged state: R full, in-line copies on exactly the succession, nothing elsewhere, nothing lost. */
  checkSettled(c: SimCluster): void {
    const own = this.ownership(c);
    expect(own.summary).toEqual({ genesis: 0, belowReplicationFactor: 0, complete: PARTITION_COUNT, merging: 0 });
    for (let pid = 0; pid < PARTITION_COUNT; pid++) {
      const succession = c.map.succession(pid);
      check(own.actingMaster(pid) === c.map.master(pid), `map master of ${pid} acts`);
      for (const id of c.members) {
        const h = this.nodes.get(id)!.holdings;
        const inSuccession = succession.includes(id);
        check(hasPartition(h.full, pid) === inSuccession, `${id} full for ${pid} iff in its succession`);
        check(hasPartition(h.partial, pid) === false, `${id} holds no partial copy of ${pid}`);
      }
    }
    for (const pid of TRACKED) {
      // Every write, except those that live only on a crashed node's disk (rf 1, or all copies down).
      const reachable = new Set<number>();
      for (const id of c.members) for (const t of this.nodes.get(id)!.data.get(pid) ?? []) reachable.add(t);
      const all = [...this.written.get(pid)!].filter((t) => this.down.size === 0 || reachable.has(t)).sort((a, b) => a - b).join();
      for (const id of c.members) {
        const data = this.nodes.get(id)!.data.get(pid);
        if (c.map.succession(pid).includes(id)) check([...data!].sort((a, b) => a - b).join() === all, `${id} has every write of ${pid}`);
        else check(data === undefined, `${id} dropped ${pid}`);
      }
    }
  }
}

function diskPartitions(h: Holdings): number[] {
  const out: number[] = [];
  for (let pid = 0; pid < PARTITION_COUNT; pid++) if (hasPartition(h.full, pid) || hasPartition(h.partial, pid)) out.push(pid);
  return out;
}

function shuffle<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("scenario: 3 fresh nodes → a 4th joins → one crashes → it restarts", () => {
  it("serves only from full copies at every step and ends with every write on every owner", () => {
    const sim = new ClusterSim(2, prng(42));
    for (const id of ["A1", "B2", "C3"]) sim.boot(id);
    sim.setClusters([["A1", "B2", "C3"]]);
    let c = sim.clusters[0]!;

    // Genesis: nobody holds anything; each map master claims its partitions, then fills its replica.
    let own = sim.ownership(c);
    expect(own.summary.genesis).toBe(PARTITION_COUNT);
    expect(sim.converge(c, 1, 5)).toBeLessThanOrEqual(3);
    sim.checkSettled(c);

    // A 4th node joins: old owners keep serving until it is full; it serves nothing before.
    sim.boot("D4");
    sim.setClusters([["A1", "B2", "C3", "D4"]]);
    c = sim.clusters[0]!;
    own = sim.ownership(c);
    const gained = c.map.partitionsOf("D4");
    expect(gained.length).toBeGreaterThan(0);
    expect(own.summary.genesis).toBe(0);
    for (const pid of gained) {
      expect(own.readable(pid, "D4")).toBe(false);
      expect(own.actingMaster(pid)).not.toBe("D4");
      expect(own.isFull(pid, own.actingMaster(pid))).toBe(true);
      expect(own.writeTargets(pid)).toContain("D4");
      for (const id of ["A1", "B2", "C3"]) expect(own.dropSafe(pid, id)).toBe(false);
    }
    const plannedToD4 = c.members.flatMap((id) => planMigrations(own, c.map, sim.holdingsOf(c), id)).filter((m) => m.to === "D4");
    expect(new Set(plannedToD4.map((m) => m.pid))).toEqual(new Set(gained));
    expect(plannedToD4.every((m) => m.kind === MoveKind.FILL)).toBe(true);
    expect(sim.converge(c, 1, 5)).toBeLessThanOrEqual(3);
    sim.checkSettled(c);

    // C3 crashes: every partition still has a full copy on a survivor (rf 2), no genesis.
    sim.crash("C3");
    c = sim.clusters[0]!;
    own = sim.ownership(c);
    expect(own.summary.genesis).toBe(0);
    for (let pid = 0; pid < PARTITION_COUNT; pid++) expect(own.isFull(pid, own.actingMaster(pid))).toBe(true);
    sim.round(c, 0.5); // the cluster changes again mid-migration
    sim.boot("C3");
    sim.setClusters([["A1", "B2", "C3", "D4"]]);
    c = sim.clusters[0]!;

    // C3 is back with its disk: it first merges what it has into the acting masters, then is
    // filled; it serves nothing until full.
    own = sim.ownership(c);
    const plan = planMigrations(own, c.map, sim.holdingsOf(c), "C3");
    expect(plan.length).toBeGreaterThan(0);
    expect(plan.every((m) => m.kind === MoveKind.MERGE)).toBe(true);
    for (let round = 0; round < 10; round++) {
      own = sim.ownership(c);
      for (let pid = 0; pid < PARTITION_COUNT; pid++) {
        if (own.readable(pid, "C3")) check(hasPartition(sim.nodes.get("C3")!.holdings.full, pid), `C3 serves ${pid} only when full`);
      }
      if (!sim.round(c, 1)) break;
    }
    sim.checkSettled(c);
  });
});

describe("model: rounds of planned moves converge without losing a write", () => {
  it("with every planned move completing, the cluster settles within 4 rounds of the last change", () => {
    fc.assert(fc.property(idsArb(1, 6), fc.integer({ min: 1, max: 3 }), fc.integer(), (ids, rf, seed) => {
      const sim = new ClusterSim(rf, prng(seed));
      for (const id of ids) sim.boot(id);
      sim.setClusters([ids]);
      expect(sim.converge(sim.clusters[0]!, 1, 4)).toBeLessThanOrEqual(4);
      sim.checkSettled(sim.clusters[0]!);
      // One more node, then one fewer: each settles on its own succession.
      sim.boot("ABCDE1");
      sim.setClusters([[...ids, "ABCDE1"]]);
      expect(sim.converge(sim.clusters[0]!, 1, 4)).toBeLessThanOrEqual(4);
      sim.checkSettled(sim.clusters[0]!);
      sim.crash(ids[0]!);
      expect(sim.converge(sim.clusters[0]!, 1, 4)).toBeLessThanOrEqual(4);
      sim.checkSettled(sim.clusters[0]!);
    }), { numRuns: 12 });
  });

  type SimEvent =
    | { kind: "join" }
    | { kind: "crash"; pick: number }
    | { kind: "restart"; pick: number }
    | { kind: "split"; pick: number }
    | { kind: "heal" };

  const eventArb: fc.Arbitrary<SimEvent> = fc.oneof(
    fc.constant<SimEvent>({ kind: "join" }),
    fc.record({ kind: fc.constant("crash" as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant("restart" as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant("split" as const), pick: fc.nat() }),
    fc.constant<SimEvent>({ kind: "heal" }),
  );

  function applyEvent(sim: ClusterSim, event: SimEvent, joined: { count: number }): void {
    const alive = [...sim.nodes.keys()].sort(compareNodeIds);
    switch (event.kind) {
      case "join": {
        const id = (0x100000 + ++joined.count).toString(16).toUpperCase();
        sim.boot(id);
        const [first, ...rest] = sim.clusters;
        sim.setClusters([[...(first?.members ?? []), id], ...rest.map((c) => c.members)]);
        return;
      }
      case "crash":
        if (alive.length > 1) sim.crash(alive[event.pick % alive.length]!);
        return;
      case "restart": {
        const downIds = [...sim.down.keys()].sort(compareNodeIds);
        if (downIds.length === 0) return;
        sim.boot(downIds[event.pick % downIds.length]!);
        const [first, ...rest] = sim.clusters;
        sim.setClusters([[...(first?.members ?? []), downIds[event.pick % downIds.length]!], ...rest.map((c) => c.members)]);
        return;
      }
      case "split": {
        if (sim.clusters.length !== 1 || alive.length < 2) return;
        const side = alive.filter((_, i) => ((event.pick >> i) & 1) === 1);
        if (side.length === 0 || side.length === alive.length) return;
        sim.setClusters([alive.filter((id) => !side.includes(id)), side]);
        return;
      }
      case "heal":
        if (sim.clusters.length > 1) sim.setClusters([alive]);
        return;
    }
  }

  /** Runs one model history; throws on a broken invariant. Exported shape for regression cases. */
  function runModel(ids: readonly string[], rf: number, seed: number, events: readonly (readonly [SimEvent, number])[]): void {
    const sim = new ClusterSim(rf, prng(seed));
    for (const id of ids) sim.boot(id);
    sim.setClusters([ids]);
    const joined = { count: 0 };
    for (const [event, rounds] of events) {
      for (let i = 0; i < rounds; i++) for (const c of sim.clusters) sim.round(c, 0.5);
      applyEvent(sim, event, joined);
      if (TRACE_PID >= 0) console.log("EVENT", JSON.stringify(event), "clusters", sim.clusters.map((x) => `${x.key}:${x.members.join("/")}`).join(" "), "down", [...sim.down.keys()].join());
    }
    // Everyone comes back and the network heals: one cluster, which must settle.
    for (const id of [...sim.down.keys()]) sim.boot(id);
    sim.setClusters([[...sim.nodes.keys()]]);
    const c = sim.clusters[0]!;
    sim.converge(c, 0.5, 60);
    sim.checkSettled(c);
  }

  it("through joins, crashes, restarts, split brain and heals, interrupted at random", () => {
    fc.assert(fc.property(
      idsArb(1, 4), fc.integer({ min: 1, max: 3 }), fc.integer(),
      fc.array(fc.tuple(eventArb, fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 6 }),
      (ids, rf, seed, events) => runModel(ids, rf, seed, events),
    ), { numRuns: MODEL_RUNS, ...(process.env.MODEL_SEED === undefined ? {} : { seed: Number(process.env.MODEL_SEED), endOnFailure: true }) });
  }, 120_000);

  it("regression: counterexamples found by the model", () => {
    runModel(["1", "2", "17CF0", "3568E"], 1, -1353417160, [
      [{ kind: "crash", pick: 835779799 }, 3], [{ kind: "split", pick: 3 }, 1], [{ kind: "join" }, 0], [{ kind: "split", pick: 0 }, 1],
    ]);
    runModel(["C743F", "F115D", "A8C8E"], 2, 1099187025, [
      [{ kind: "split", pick: 871725088 }, 0], [{ kind: "restart", pick: 2147483625 }, 0], [{ kind: "split", pick: 2147483622 }, 2],
      [{ kind: "join" }, 3], [{ kind: "restart", pick: 1 }, 1],
    ]);
  });
});
