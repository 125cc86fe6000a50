/**
 * Partition map: which nodes hold each of the 4096 partitions, as a pure function of the member
 * node ids and the replication factor. Every node computes the same map from the same membership;
 * nothing about it is negotiated (DESIGN.md, "Partitioning"). No I/O, clock or randomness.
 *
 * Concept. For each partition an ordered succession of R = min(replicationFactor, N) distinct
 * nodes: position 0 is the master, 1.. the replicas. Stored as one Uint16Array of indexes into
 * the sorted node list, R entries per partition:
 *
 *     nodes: ["1A2B..", "3C4D..", "5E6F.."]     (sorted by 64-bit value)
 *     table: [ 2 0 | 1 2 | 0 1 | ... ]          (R = 2; pid 0: master 5E6F.., replica 1A2B..)
 *              pid0  pid1  pid2
 *
 * Invariants (asserted when a map is built; property-tested in test/unit/partition-map.test.ts):
 * - the map depends only on the SET of ids: order and duplicates do not matter;
 * - each succession holds R distinct member nodes;
 * - masters per node ≤ ceil(4096/N): exactly as balanced as any map can be;
 * - copies per node ≤ max(ceil(4096·R/N), floor(1.01 · 4096·R/N)): max/mean ≤ 1.01.
 *
 * Method.
 * 1. Score every (partition, node) pair; a partition's unconstrained preference is rendezvous
 *    (highest-random-weight) order.
 * 2. Holders: start from each partition's top R, then move copies off over-capacity nodes along
 *    shortest paths of the residual graph (min-cost flow, successive shortest paths). The result
 *    maximises the total score of the held copies under the capacities: it is the capacitated
 *    assignment closest to rendezvous hashing, and over-loaded nodes shed their lowest-margin
 *    partitions to the nodes that want them most.
 * 3. Masters: the same flow picks one holder per partition (start: the highest-scoring holder)
 *    under ceil(4096/N). In practice this gives nearly the masters of the rf 1 map.
 * 4. Replicas follow the master in descending score.
 *
 * Scores are XOR-structured rather than independent hashes: node n's primary score in partition p
 * is G[p XOR h(n)], with G one fixed pseudo-random permutation of 0..4095 and h(n) a 12-bit hash of
 * the id. So each node's scores over the partitions are exactly a permutation (no node is lucky
 * overall), and for two nodes with different h the pairing p ↔ p XOR h(a) XOR h(b) makes a beat b
 * in exactly half the partitions. That halves the load noise of rendezvous hashing (its copies max/mean at
 * N = 9, rf 2: median 1.045 → 1.024), so the flow has less to correct. Ties go to a second table
 * with a second hash, then 8 bits of a plain hash, then the node index. Two ids whose 12-bit
 * hashes collide (probability ≈ N²/8192) tie on the primary score and act like one node with two
 * slots; the flow still balances them, at up to ~1.18× movement in the worst case seen.
 *
 * Why this algorithm. A memoryless map cannot remember where partitions were; it can only be
 * stable. Rendezvous hashing is perfectly stable (a joining node only takes partitions where it
 * ranks in the top R; a leaver's copies go to the next in rank) but its loads are binomial: at
 * N = 10, rf 2, 9% over the mean for masters and 6% for copies (bench `--scheme hrw`). Forcing
 * balance costs movement because the corrections before and after a change differ by the noise in
 * how many copies the newcomer took from each old node (the leaver left to each). With independent
 * scores and exact capacities that was 4–6% extra movement at N = 10, rf 2; the structured scores
 * and the 1% copy slack the balance target allows bring it to 1–3%. Masters get no slack (their
 * bound is exact), so they move 2–8% more than the minimum for N ≤ 10. The optimal flow responds
 * smoothly (like prices) to a change, so the corrections mostly nest; the residual grows with N as
 * per-node counts shrink: ~1.15 for copies, ~1.4 for masters at N = 32. Rejected: a greedy
 * bounded-load pass (first fit in a fixed partition order) is order-dependent, reshuffles its tail
 * on every change and can dead-end when the only free nodes already hold the partition; penalising
 * every deviation from rendezvous order (fewest corrections) measured no better.
 *
 * Movement (bench/balance.ts): copies added (a node holds p after the change and not before) over
 * movementFloor, the least any two perfectly balanced maps need: C/(N+1) for a join and C/N for a
 * leave, C = 4096·R. Masters likewise against 4096/(N+1) and 4096/N. Excerpt, rf 2, 4 id sets
 * per N, leave averaged over every leaver (`node dist/bench/balance.js`):
 *
 *     |  N | masters max/mean | copies max/mean | join  | join worst | leave | leave worst | master join | master leave |
 *     |  2 |            1.000 |           1.000 | 1.001 |      1.003 | 1.000 |       1.000 |       1.002 |        1.000 |
 *     |  4 |            1.000 |           1.010 | 0.998 |      1.005 | 1.000 |       1.010 |       1.020 |        1.012 |
 *     |  6 |            1.000 |           1.009 | 1.006 |      1.017 | 1.005 |       1.017 |       1.044 |        1.028 |
 *     |  8 |            1.000 |           1.010 | 1.018 |      1.025 | 1.009 |       1.022 |       1.070 |        1.051 |
 *     |  9 |            1.002 |           1.010 | 1.027 |      1.047 | 1.018 |       1.044 |       1.062 |        1.061 |
 *     | 10 |            1.001 |           1.010 | 1.022 |      1.038 | 1.016 |       1.041 |       1.083 |        1.066 |
 *     | 16 |            1.000 |           1.010 | 1.076 |      1.094 | 1.059 |       1.127 |       1.154 |        1.169 |
 *     | 32 |            1.000 |           1.008 | 1.158 |      1.180 | 1.148 |       1.234 |       1.442 |        1.415 |
 *     plain rendezvous, N = 10:  1.089 masters, 1.063 copies, join 0.994, leave 1.000 (worst 1.063)
 *     rf 1, N = 10: join 1.058, leave 1.067;  rf 3, N = 10: join 1.022, leave 1.007
 *
 * Cost: O(4096·N) to score, plus O(N²) per corrected copy for the shortest path and cache upkeep.
 * About 12 ms of CPU at N = 32, rf 3 (median of 25 maps, 2-core machine; the first call in a
 * process pays ~200 ms of JIT warm-up).
 */
import assert from "node:assert";
import { PARTITION_COUNT } from "../../client/protocol/constants.js";

/** Partition-id bits; scores pack two PARTITION_BITS-wide ranks and 8 bits into 32 bits. */
const PARTITION_BITS = Math.log2(PARTITION_COUNT);
const PARTITION_MASK = PARTITION_COUNT - 1;
const TIEBREAK_BITS = 8;
assert(Number.isInteger(PARTITION_BITS) && PARTITION_BITS <= 12, "PARTITION_COUNT is a power of two ≤ 4096");
assert(2 * PARTITION_BITS + TIEBREAK_BITS <= 32, "a score fits 32 bits, so sums of scores are exact");

/** Copies per node may exceed the mean by this much (‰) when that buys stability. */
const COPY_SLACK_PERMILLE = 10;
/** Node indexes are stored as u16. */
const NODES_MAX = 0xffff;
const NODE_ID_PATTERN = /^[0-9A-F]{1,16}$/;

/** The partition map: an immutable value. Build it with computePartitionMap. */
export class PartitionMap {
  /** Member node ids, distinct, sorted ascending by 64-bit value. */
  readonly nodes: readonly string[];
  /** Effective replication factor R = min(requested, nodes.length). */
  readonly replicationFactor: number;
  /**
   * The compact form: table[pid * R + i] is the index in `nodes` of position i (0 = master) of
   * pid's succession. Shared, never written after construction: do not mutate.
   */
  readonly table: Readonly<Uint16Array>;
  readonly #index: ReadonlyMap<string, number>;
  readonly #successions: readonly (readonly string[])[];

  /**
   * Wraps an already computed table (computePartitionMap, or a reference scheme in a test or
   * benchmark) after checking it: `nodes` sorted and distinct, R entries per partition, each an
   * index into `nodes`, distinct within a partition. Takes ownership of `table`.
   */
  constructor(nodes: readonly string[], replicationFactor: number, table: Uint16Array) {
    assert(Number.isInteger(replicationFactor) && replicationFactor >= 1,
      `replicationFactor ${replicationFactor} must be an integer ≥ 1`);
    assert(nodes.length >= 1 && nodes.length <= NODES_MAX, `1..${NODES_MAX} nodes (got ${nodes.length})`);
    assert(sortNodeIds(nodes).every((id, i) => nodes[i] === id), "nodes are distinct and sorted by value");
    const r = effectiveReplicationFactor(replicationFactor, nodes.length);
    assert(table.length === PARTITION_COUNT * r, "table has R entries per partition");
    this.nodes = Object.freeze([...nodes]);
    this.replicationFactor = r;
    this.table = table;
    this.#index = new Map(nodes.map((id, i) => [id, i]));
    const successions: (readonly string[])[] = [];
    for (let pid = 0; pid < PARTITION_COUNT; pid++) {
      const row: string[] = [];
      for (let i = 0; i < r; i++) {
        const node = table[pid * r + i]!;
        assert(node < nodes.length, "table entries index nodes");
        for (let j = 0; j < i; j++) assert(table[pid * r + j] !== node, "a succession lists distinct nodes");
        row.push(nodes[node]!);
      }
      successions.push(Object.freeze(row));
    }
    this.#successions = Object.freeze(successions);
  }

  /** Master then replicas of `pid`; all distinct, length `replicationFactor`. */
  succession(pid: number): readonly string[] {
    checkPid(pid);
    return this.#successions[pid]!;
  }

  /** The master of `pid`. */
  master(pid: number): string {
    checkPid(pid);
    return this.nodes[this.table[pid * this.replicationFactor]!]!;
  }

  /** Index of `nodeId` in `nodes`, or -1 when it is not a member. */
  indexOf(nodeId: string): number {
    return this.#index.get(nodeId) ?? -1;
  }

  /** Position of `nodeId` in the succession of `pid` (0 = master), or -1 when it holds no copy. */
  replicaIndexOf(nodeId: string, pid: number): number {
    checkPid(pid);
    const n = this.indexOf(nodeId);
    const r = this.replicationFactor;
    for (let i = 0; i < r && n >= 0; i++) if (this.table[pid * r + i] === n) return i;
    return -1;
  }

  /** Partitions where `nodeId` sits at `replicaIndex` (0 = master), or holds any copy if omitted. */
  partitionsOf(nodeId: string, replicaIndex?: number): number[] {
    const n = this.indexOf(nodeId);
    const r = this.replicationFactor;
    assert(replicaIndex === undefined || (Number.isInteger(replicaIndex) && replicaIndex >= 0),
      `replicaIndex ${replicaIndex} must be a non-negative integer`);
    const out: number[] = [];
    if (n < 0) return out;
    for (let pid = 0; pid < PARTITION_COUNT; pid++) {
      for (let i = 0; i < r; i++) {
        if (this.table[pid * r + i] === n && (replicaIndex === undefined || replicaIndex === i)) out.push(pid);
      }
    }
    return out;
  }

  /** True when `other` has the same nodes, replication factor and successions. */
  equals(other: PartitionMap): boolean {
    return this.replicationFactor === other.replicationFactor
      && this.nodes.length === other.nodes.length
      && this.nodes.every((id, i) => other.nodes[i] === id)
      && this.table.every((v, i) => other.table[i] === v);
  }
}

function checkPid(pid: number): void {
  assert(Number.isInteger(pid) && pid >= 0 && pid < PARTITION_COUNT, `partition id ${pid} outside 0..${PARTITION_COUNT - 1}`);
}

/** Copies a partition has with `nodeCount` nodes: the replication factor, at most one per node. */
export function effectiveReplicationFactor(replicationFactor: number, nodeCount: number): number {
  return Math.min(replicationFactor, nodeCount);
}

/**
 * The partition map of a cluster whose members are `nodeIds` (uppercase hex, up to 16 digits, any
 * order, duplicates ignored) at `replicationFactor` copies per partition (capped at the member count).
 */
export function computePartitionMap(nodeIds: readonly string[], replicationFactor: number): PartitionMap {
  assert(Number.isInteger(replicationFactor) && replicationFactor >= 1,
    `replicationFactor ${replicationFactor} must be an integer ≥ 1`);
  const nodes = sortNodeIds(nodeIds);
  const n = nodes.length;
  assert(n >= 1, "a partition map needs at least one node");
  assert(n <= NODES_MAX, `at most ${NODES_MAX} nodes (got ${n})`);
  const r = effectiveReplicationFactor(replicationFactor, n);
  const score = scoreTable(nodes);

  const mastersMax = mastersPerNodeMax(n);
  let copiesMax = copiesPerNodeMax(n, r);
  let copies = assignHolders(score, n, r, copiesMax);
  let masters = new SlotAssignment(score, n, 1, copies.member);
  if (!masters.balance(mastersMax)) {
    // Some t nodes hold more than t·mastersMax partitions between them. The copy slack allows
    // that in principle, never in any map we have measured; R·mastersMax copies rule it out.
    copiesMax = r * mastersMax;
    copies = assignHolders(score, n, r, copiesMax);
    masters = new SlotAssignment(score, n, 1, copies.member);
    assert(masters.balance(mastersMax), "masters fit once copies are capped at R·ceil(4096/N)");
  }

  const table = new Uint16Array(PARTITION_COUNT * r);
  for (let pid = 0; pid < PARTITION_COUNT; pid++) {
    const master = masters.slots[pid]!;
    const replicas: number[] = [];
    for (let i = 0; i < r; i++) {
      const node = copies.slots[pid * r + i]!;
      if (node !== master) replicas.push(node);
    }
    replicas.sort((a, b) => score[pid * n + b]! - score[pid * n + a]! || a - b);
    table[pid * r] = master;
    replicas.forEach((node, i) => { table[pid * r + 1 + i] = node; });
  }
  const map = new PartitionMap(nodes, replicationFactor, table);
  const balance = describeBalance(map);
  assert(Math.max(...balance.masters) <= mastersMax, "masters within capacity");
  assert(Math.max(...balance.copies) <= copiesMax, "copies within capacity");
  return map;
}

/** Most partitions any node masters: ceil(4096 / N). */
export function mastersPerNodeMax(nodeCount: number): number {
  return Math.ceil(PARTITION_COUNT / nodeCount);
}

/**
 * Most copies (master or replica) any node holds: floor(1.01 · 4096·R / N), at least
 * ceil(4096·R / N). With R = 1 copies are masters, so the master bound applies. The 1% slack
 * leaves nodes whose rendezvous share is only slightly high alone, which is what keeps the map
 * stable (see the header); computePartitionMap tightens it to R·ceil(4096/N) in the (never
 * observed) case that the masters could not otherwise be spread.
 */
export function copiesPerNodeMax(nodeCount: number, replicationFactor: number): number {
  const r = effectiveReplicationFactor(replicationFactor, nodeCount);
  if (r === 1) return mastersPerNodeMax(nodeCount);
  const total = PARTITION_COUNT * r;
  const slack = Math.floor((total * (1000 + COPY_SLACK_PERMILLE)) / (1000 * nodeCount));
  return Math.max(Math.ceil(total / nodeCount), slack);
}

/** Holders: each partition's top R by score, balanced to `cap` copies per node. */
function assignHolders(score: Float64Array, n: number, r: number, cap: number): SlotAssignment {
  const copies = new SlotAssignment(score, n, r, undefined);
  assert(copies.balance(cap), "without eligibility limits every node can take any partition");
  return copies;
}

/** Distinct ids sorted by 64-bit value; asserts the format and that no value is spelled twice. */
function sortNodeIds(nodeIds: readonly string[]): string[] {
  const byValue = new Map<string, string>();
  for (const id of nodeIds) {
    assert(typeof id === "string" && NODE_ID_PATTERN.test(id), `node id ${JSON.stringify(id)} must be 1–16 uppercase hex digits`);
    const value = id.padStart(16, "0");
    const seen = byValue.get(value);
    assert(seen === undefined || seen === id, `node ids ${seen} and ${id} name the same 64-bit id`);
    byValue.set(value, id);
  }
  return [...byValue.keys()].sort().map((value) => byValue.get(value)!);
}

// ---------------------------------------------------------------------------------------------
// Scores
// ---------------------------------------------------------------------------------------------

/** murmur3's 32-bit finaliser: a bijection with full avalanche (also used by partition-delta.ts). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A fixed pseudo-random permutation of 0..PARTITION_COUNT-1 (sort by hash, ties by value). */
function permutation(seed: number): Uint16Array {
  const keys = new Uint32Array(PARTITION_COUNT);
  for (let v = 0; v < PARTITION_COUNT; v++) {
    keys[v] = ((fmix32(Math.imul(v + 1, 0x9e3779b9) ^ seed) & ~PARTITION_MASK) | v) >>> 0;
  }
  keys.sort();
  const g = new Uint16Array(PARTITION_COUNT);
  for (let rank = 0; rank < PARTITION_COUNT; rank++) g[keys[rank]! & PARTITION_MASK] = rank;
  return g;
}

/** Computed once at load, never written: constants, not state. */
const PRIMARY = permutation(0x243f6a88);
const SECONDARY = permutation(0x85a308d3);
const PARTITION_SALT = Uint32Array.from({ length: PARTITION_COUNT }, (_, p) => fmix32(Math.imul(p, 0x9e3779b1) ^ 0x7f4a7c15));

/**
 * score[pid * N + node]: a 32-bit integer, higher = stronger claim. Primary rank G1[p ^ h1(node)],
 * then G2[p ^ h2(node)], then 8 bits of a plain hash; a full tie falls to the lower node index.
 */
function scoreTable(nodes: readonly string[]): Float64Array {
  const n = nodes.length;
  const score = new Float64Array(PARTITION_COUNT * n);
  for (let node = 0; node < n; node++) {
    const padded = nodes[node]!.padStart(16, "0");
    const hi = parseInt(padded.slice(0, 8), 16);
    const lo = parseInt(padded.slice(8), 16);
    const a = fmix32(hi ^ 0x510e527f);
    const b = fmix32((lo ^ a ^ 0x9b05688c) >>> 0);
    const c = fmix32((a + b + 0x1f83d9ab) >>> 0);
    const h1 = b & PARTITION_MASK;
    const h2 = c & PARTITION_MASK;
    const salt = fmix32((a ^ c) >>> 0);
    for (let pid = 0; pid < PARTITION_COUNT; pid++) {
      const tiebreak = Math.imul(PARTITION_SALT[pid]! ^ salt, 0x9e3779b1) >>> (32 - TIEBREAK_BITS);
      score[pid * n + node] = (PRIMARY[pid ^ h1]! * PARTITION_COUNT + SECONDARY[pid ^ h2]!) * (1 << TIEBREAK_BITS) + tiebreak;
    }
  }
  return score;
}

// ---------------------------------------------------------------------------------------------
// Capacitated assignment by successive shortest paths
// ---------------------------------------------------------------------------------------------

/**
 * `k` slots per partition, each filled by a distinct node (an eligible one, if `eligible` is
 * given). Starts at the unconstrained optimum (each partition's top k by score); `balance` then
 * moves slots off over-capacity nodes along shortest paths of the residual graph, so the total
 * score stays the maximum possible for the loads reached (min-cost flow by successive shortest
 * paths, started from an optimal pseudo-flow).
 *
 * The residual graph is compressed onto nodes: edge a → c costs the least score lost by handing
 * some partition's slot from a to c (a holds it, c does not and is eligible). `#bestCost/#bestPid`
 * cache that least cost and its partition per pair; a pair is rescanned, over a's partitions
 * only, when its cached partition changes hands. Ties go to the lowest partition id.
 *
 *     held:    node 0: [pid, pid, ... (load[0] of them)]  node 1: [...]   one row of 4096 per node
 *     heldPos: heldPos[pid * n + node] = index of pid in that node's row (-1 when not held)
 */
class SlotAssignment {
  /** slots[pid * k + i]: the node in slot i of pid (unordered). */
  readonly slots: Int32Array;
  /** member[pid * n + node] = 1 when node fills a slot of pid. */
  readonly member: Uint8Array;
  readonly load: Int32Array;
  readonly #held: Int32Array;
  readonly #heldPos: Int32Array;
  readonly #bestCost: Float64Array;
  readonly #bestPid: Int32Array;

  constructor(
    readonly score: Float64Array, readonly n: number, readonly k: number,
    readonly eligible: Uint8Array | undefined,
  ) {
    this.slots = new Int32Array(PARTITION_COUNT * k);
    this.member = new Uint8Array(PARTITION_COUNT * n);
    this.load = new Int32Array(n);
    this.#held = new Int32Array(n * PARTITION_COUNT);
    this.#heldPos = new Int32Array(PARTITION_COUNT * n).fill(-1);
    this.#bestCost = new Float64Array(n * n).fill(Infinity);
    this.#bestPid = new Int32Array(n * n).fill(-1);
    const top = new Int32Array(k + 1);
    for (let pid = 0; pid < PARTITION_COUNT; pid++) this.#fillTop(pid, top);
  }

  #fillTop(pid: number, top: Int32Array): void {
    const { n, k, score, eligible } = this;
    const base = pid * n;
    let size = 0;
    for (let node = 0; node < n; node++) {
      if (eligible !== undefined && eligible[base + node] === 0) continue;
      // Insertion into `top`, kept sorted by descending score (ascending index on ties).
      let at = size;
      while (at > 0 && score[base + top[at - 1]!]! < score[base + node]!) { top[at] = top[at - 1]!; at--; }
      top[at] = node;
      if (size < k) size++;
    }
    assert(size === k, "every partition has enough eligible nodes");
    for (let i = 0; i < k; i++) {
      this.slots[pid * k + i] = top[i]!;
      this.#take(pid, top[i]!);
    }
  }

  #take(pid: number, node: number): void {
    this.member[pid * this.n + node] = 1;
    this.#heldPos[pid * this.n + node] = this.load[node]!;
    this.#held[node * PARTITION_COUNT + this.load[node]!] = pid;
    this.load[node]!++;
  }

  #drop(pid: number, node: number): void {
    const at = this.#heldPos[pid * this.n + node]!;
    const last = --this.load[node]!;
    const moved = this.#held[node * PARTITION_COUNT + last]!;
    this.#held[node * PARTITION_COUNT + at] = moved;
    this.#heldPos[moved * this.n + node] = at;
    this.#heldPos[pid * this.n + node] = -1;
    this.member[pid * this.n + node] = 0;
  }

  /**
   * Moves slots until every node holds at most `cap`. Returns false, leaving a valid but
   * unbalanced assignment, when an over-capacity node can reach no node under capacity (only
   * possible under an `eligible` restriction: Hall's condition failed).
   */
  balance(cap: number): boolean {
    assert(cap * this.n >= PARTITION_COUNT * this.k, "capacities hold every slot");
    if (this.load.every((l) => l <= cap)) return true;
    for (let pid = 0; pid < PARTITION_COUNT; pid++) this.#offerEdges(pid);
    const touched = new Uint8Array(PARTITION_COUNT);
    const moved: number[] = [];
    while (this.load.some((l) => l > cap)) {
      const path = this.#shortestPath(cap);
      if (path.length === 0) return false;
      for (let i = 0; i + 1 < path.length; i++) moved.push(this.#move(path[i]!, path[i + 1]!));
      for (const pid of moved) touched[pid] = 1;
      this.#refresh(touched, moved);
      for (const pid of moved) touched[pid] = 0;
      moved.length = 0;
    }
    return true;
  }

  /** Cost of handing pid's slot from a (which holds it) to c, or Infinity if c may not take it. */
  #cost(pid: number, a: number, c: number): number {
    const base = pid * this.n;
    if (this.member[base + c] === 1 || (this.eligible !== undefined && this.eligible[base + c] === 0)) return Infinity;
    return this.score[base + a]! - this.score[base + c]!;
  }

  /** Lowers cached edge costs with pid's current moves (hot: the loops inline #cost). */
  #offerEdges(pid: number): void {
    const { n, k, score, member, eligible } = this;
    const bestCost = this.#bestCost;
    const bestPid = this.#bestPid;
    const base = pid * n;
    for (let i = 0; i < k; i++) {
      const a = this.slots[pid * k + i]!;
      const from = score[base + a]!;
      for (let c = 0; c < n; c++) {
        if (member[base + c] === 1 || (eligible !== undefined && eligible[base + c] === 0)) continue;
        const cost = from - score[base + c]!;
        const edge = a * n + c;
        if (cost < bestCost[edge]! || (cost === bestCost[edge]! && pid < bestPid[edge]!)) {
          bestCost[edge] = cost;
          bestPid[edge] = pid;
        }
      }
    }
  }

  /** Rescans every edge whose cached partition changed hands, then offers those partitions. */
  #refresh(touched: Uint8Array, moved: readonly number[]): void {
    const { n, score, member, eligible } = this;
    const bestCost = this.#bestCost;
    const bestPid = this.#bestPid;
    for (let edge = 0; edge < n * n; edge++) {
      const cached = bestPid[edge]!;
      if (cached < 0 || touched[cached] === 0) continue;
      const a = Math.floor(edge / n);
      const c = edge % n;
      let best = Infinity;
      let bestAt = -1;
      for (let i = 0, held = this.load[a]!, row = a * PARTITION_COUNT; i < held; i++) {
        const pid = this.#held[row + i]!;
        const base = pid * n;
        if (member[base + c] === 1 || (eligible !== undefined && eligible[base + c] === 0)) continue;
        const cost = score[base + a]! - score[base + c]!;
        if (cost < best || (cost === best && pid < bestAt)) { best = cost; bestAt = pid; }
      }
      bestCost[edge] = best;
      bestPid[edge] = bestAt;
    }
    for (const pid of moved) this.#offerEdges(pid);
  }

  /**
   * Bellman–Ford from every over-capacity node at once (edge costs may be negative; the flow is
   * optimal, so there is no negative cycle). Returns the node path to the nearest node under
   * capacity (lowest index on ties), or [] when none is reachable.
   */
  #shortestPath(cap: number): number[] {
    const n = this.n;
    const cost = this.#bestCost;
    const dist = new Float64Array(n).fill(Infinity);
    const parent = new Int32Array(n).fill(-1);
    for (let node = 0; node < n; node++) if (this.load[node]! > cap) dist[node] = 0;
    for (let round = 0, changed = true; changed; round++) {
      assert(round <= n, "no negative cycle: the assignment stays optimal");
      changed = false;
      for (let a = 0; a < n; a++) {
        const from = dist[a]!;
        if (from === Infinity) continue;
        for (let c = 0; c < n; c++) {
          const d = from + cost[a * n + c]!;
          if (d < dist[c]!) { dist[c] = d; parent[c] = a; changed = true; }
        }
      }
    }
    let target = -1;
    for (let node = 0; node < n; node++) {
      if (this.load[node]! < cap && dist[node]! < Infinity && (target < 0 || dist[node]! < dist[target]!)) target = node;
    }
    const path: number[] = [];
    for (let v = target; v >= 0; v = parent[v]!) {
      path.push(v);
      assert(path.length <= n, "shortest paths are simple");
    }
    return path.reverse();
  }

  /** Hands the cached cheapest partition's slot from a to c; returns that partition. */
  #move(a: number, c: number): number {
    const { n, k } = this;
    const pid = this.#bestPid[a * n + c]!;
    assert(this.member[pid * n + a] === 1 && this.#cost(pid, a, c) === this.#bestCost[a * n + c], "the cached edge is valid");
    for (let i = 0; i < k; i++) if (this.slots[pid * k + i] === a) this.slots[pid * k + i] = c;
    this.#drop(pid, a);
    this.#take(pid, c);
    return pid;
  }
}

// ---------------------------------------------------------------------------------------------
// Comparing and describing maps
// ---------------------------------------------------------------------------------------------

/** What changes between two maps, partition by partition. */
export interface MapDiff {
  /** holdersChanged[pid] = 1 when the SET of nodes holding pid differs. */
  readonly holdersChanged: Uint8Array;
  /** masterChanged[pid] = 1 when the master of pid differs. */
  readonly masterChanged: Uint8Array;
  /** Partitions whose holder set differs, ascending. */
  readonly changedPartitions: readonly number[];
  /** Number of partitions whose master differs. */
  readonly mastersChanged: number;
  /** Copies `b` places on a node that held no copy of that partition in `a`: what must be streamed. */
  readonly copiesAdded: number;
  /** Copies held in `a` on a node that holds none of that partition in `b`: what may be dropped. */
  readonly copiesRemoved: number;
}

/** Partition-by-partition difference from map `a` to map `b` (nodes compared by id). */
export function mapDiff(a: PartitionMap, b: PartitionMap): MapDiff {
  const holdersChanged = new Uint8Array(PARTITION_COUNT);
  const masterChanged = new Uint8Array(PARTITION_COUNT);
  const changedPartitions: number[] = [];
  let mastersChanged = 0;
  let copiesAdded = 0;
  let copiesRemoved = 0;
  for (let pid = 0; pid < PARTITION_COUNT; pid++) {
    const before = a.succession(pid);
    const after = b.succession(pid);
    const added = after.filter((id) => !before.includes(id)).length;
    const removed = before.filter((id) => !after.includes(id)).length;
    copiesAdded += added;
    copiesRemoved += removed;
    if (added > 0 || removed > 0) {
      holdersChanged[pid] = 1;
      changedPartitions.push(pid);
    }
    if (before[0] !== after[0]) {
      masterChanged[pid] = 1;
      mastersChanged++;
    }
  }
  return { holdersChanged, masterChanged, changedPartitions, mastersChanged, copiesAdded, copiesRemoved };
}

/**
 * The least movement any change of membership from `before` to `after` can cost between two
 * perfectly balanced maps: Σ over nodes of max(0, ideal share after − ideal share before), where a
 * member's ideal share is 4096·R/N copies (4096/N masters) and a non-member's is 0. With R the same
 * on both sides this is C/(N+1) copies for a join and C/N for a leave (C = 4096·R): the newcomer's
 * share, or the leaver's. Fractional on purpose: it is a yardstick, not a count.
 */
export function movementFloor(
  before: readonly string[], after: readonly string[], replicationFactor: number,
): { readonly copies: number; readonly masters: number } {
  const b = new Set(before);
  const a = new Set(after);
  const share = (set: ReadonlySet<string>, id: string, copiesPerPartition: number): number =>
    set.has(id) ? (PARTITION_COUNT * copiesPerPartition) / set.size : 0;
  const rBefore = effectiveReplicationFactor(replicationFactor, b.size);
  const rAfter = effectiveReplicationFactor(replicationFactor, a.size);
  let copies = 0;
  let masters = 0;
  for (const id of new Set([...b, ...a])) {
    copies += Math.max(0, share(a, id, rAfter) - share(b, id, rBefore));
    masters += Math.max(0, share(a, id, 1) - share(b, id, 1));
  }
  return { copies, masters };
}

/** How evenly a map spreads partitions; arrays align with `nodes`. */
export interface BalanceReport {
  readonly nodes: readonly string[];
  /** Partitions each node masters. */
  readonly masters: readonly number[];
  /** Copies (master or replica) each node holds. */
  readonly copies: readonly number[];
  readonly mastersMean: number;
  readonly copiesMean: number;
  /** Most-loaded node over the mean; 1 is perfect. */
  readonly mastersMaxOverMean: number;
  readonly copiesMaxOverMean: number;
}

export function describeBalance(map: PartitionMap): BalanceReport {
  const n = map.nodes.length;
  const r = map.replicationFactor;
  const masters = new Array<number>(n).fill(0);
  const copies = new Array<number>(n).fill(0);
  for (let pid = 0; pid < PARTITION_COUNT; pid++) {
    masters[map.table[pid * r]!]!++;
    for (let i = 0; i < r; i++) copies[map.table[pid * r + i]!]!++;
  }
  const mastersMean = PARTITION_COUNT / n;
  const copiesMean = (PARTITION_COUNT * r) / n;
  return {
    nodes: map.nodes, masters, copies, mastersMean, copiesMean,
    mastersMaxOverMean: Math.max(...masters) / mastersMean,
    copiesMaxOverMean: Math.max(...copies) / copiesMean,
  };
}
