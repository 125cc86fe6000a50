/**
 * Migration plan: which partition copies this node must send, in what order, and how many at once.
 * Pure: no I/O, clock or randomness. The shell streams each move in bounded chunks over the fabric.
 *
 * Concept. Ownership (partition-ownership.ts) says, per partition, who is the acting master, which
 * copies are full and which still need a merge. A node's plan is what it alone must send:
 *
 *     fill    self is the acting master of p; `to` is a succession node that is neither full nor
 *             waiting to merge its own copy. The receiver merges the stream into what it already
 *             has (so a node back from a restart receives a delta), then sets its full bit.
 *     merge   self holds a copy of p that needs merging (another history: split brain, a copy that
 *             ran alone, a restarted node's disk); `to` is the acting master, which merges by
 *             generation then last-update time and replicates the winners to its write targets.
 *             Self then marks its copy handed over (`merge-completed`): partial and in line.
 *
 * There is no "move complete" step here: the receiver of a fill sets its full bit (the sender of a
 * merge clears its own) and re-announces holdings; every node recomputes ownership, and the next
 * plan no longer contains the move. The plan is therefore a function of (ownership, self) only.
 *
 * Invariants (property-tested in test/unit/migration-plan.test.ts):
 *   - minimal: fills go only from the acting master to non-full succession nodes; a full node never
 *     receives a fill, and a settled cluster (every succession full and in line) plans nothing;
 *   - merges go only from a copy of another line to the acting master;
 *   - a node waiting to merge its copy is not filled until the merge completed (merge, then fill);
 *   - deterministic order: first partitions with fewer than R full succession copies, fewest full
 *     copies first (restore redundancy before balance), then by partition id, merges before fills,
 *     then by target id.
 *
 * Concurrency. `nextMoves` picks, in plan order, the moves to start now so that at most `outMax`
 * run out of this node and at most `inMax` of this node's moves go into any one target. The
 * receiver bounds its total intake across senders on its own (it refuses a start beyond its
 * limit); this per-target cap keeps one sender from taking all of a receiver's slots.
 */
import assert from "node:assert";
import { PARTITION_COUNT } from "../../client/protocol/constants.js";
import { compareNodeIds, type NodeId } from "./membership.js";
import type { Holdings, Ownership } from "./partition-ownership.js";
import type { PartitionMap } from "./partition-map.js";

export const MoveKind = {
  /** Acting master → a succession node that lacks the partition. */
  FILL: "fill",
  /** A copy of another history → the acting master. */
  MERGE: "merge",
} as const;
export type MoveKind = (typeof MoveKind)[keyof typeof MoveKind];

/** One partition copy to stream from `from` (always the planning node) to `to`. */
export interface Move {
  readonly pid: number;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly kind: MoveKind;
}

/** Moves running out of this node out at most, by default. */
export const MIGRATIONS_OUT_MAX_DEFAULT = 4;
/** Moves of this node running into any one target, by default. */
export const MIGRATIONS_IN_MAX_DEFAULT = 4;
/** Upper bound of either limit: more concurrent streams only add memory and queueing. */
export const MIGRATIONS_LIMIT_MAX = 1024;

export interface MigrationLimits {
  /** Moves running out of this node at once. @default 4 */
  readonly outMax: number;
  /** Moves of this node running into one target at once. @default 4 */
  readonly inMax: number;
}

/** The moves of this node that are running: their moveKeys, and how many go to each target. */
export interface MovesInFlight {
  readonly out: ReadonlySet<string>;
  readonly perTargetCount: ReadonlyMap<NodeId, number>;
}

/** Defaults filled in, each field checked (a RangeError names the field and the range). */
export function migrationLimits(options: Partial<MigrationLimits> = {}): MigrationLimits {
  const limits = { outMax: MIGRATIONS_OUT_MAX_DEFAULT, inMax: MIGRATIONS_IN_MAX_DEFAULT, ...options };
  for (const field of ["outMax", "inMax"] as const) {
    const value = limits[field];
    if (!Number.isSafeInteger(value) || value < 1 || value > MIGRATIONS_LIMIT_MAX) {
      throw new RangeError(`migration ${field} = ${String(value)}: must be an integer in [1, ${MIGRATIONS_LIMIT_MAX}]`);
    }
  }
  return Object.freeze(limits);
}

/** Identifies a move among one sender's moves (a sender has at most one move per pid and target). */
export function moveKey(move: Move): string {
  return `${move.kind}:${move.pid}:${move.to}`;
}

/**
 * Everything `self` must send under `own`, in priority order. `map` and `holdings` must be the
 * ones `own` was computed from (checked cheaply).
 */
export function planMigrations(own: Ownership, map: PartitionMap, holdings: ReadonlyMap<NodeId, Holdings>, self: NodeId): Move[] {
  assert(own.map === map || own.map.equals(map), "plan with the map the ownership was computed from");
  if (map.indexOf(self) < 0 || !holdings.has(self)) assert.fail(`planning node ${self} is a member that announced holdings`);
  const r = map.replicationFactor;
  const keyed: { move: Move; rank: number }[] = [];
  for (let pid = 0; pid < PARTITION_COUNT; pid++) {
    const master = own.actingMaster(pid);
    // Rank: below R first, then fewest full copies, then pid; kind and target break ties below.
    const rank = ((own.successionFullCopies(pid) < r ? 0 : 1) * 0x10000 + own.fullCopies(pid)) * PARTITION_COUNT + pid;
    if (master !== self) {
      if (own.needsMerge(pid, self)) keyed.push({ move: { pid, from: self, to: master, kind: MoveKind.MERGE }, rank });
      continue;
    }
    for (let k = 0; k < r; k++) {
      const to = map.nodes[map.table[pid * r + k]!]!;
      if (to === self || own.isFull(pid, to) || own.needsMerge(pid, to)) continue;
      keyed.push({ move: { pid, from: self, to, kind: MoveKind.FILL }, rank });
    }
  }
  keyed.sort((x, y) => x.rank - y.rank || kindOrder(x.move.kind) - kindOrder(y.move.kind) || compareNodeIds(x.move.to, y.move.to));
  return keyed.map((k) => k.move);
}

function kindOrder(kind: MoveKind): number {
  return kind === MoveKind.MERGE ? 0 : 1;
}

/**
 * The moves of `plan` to start now, in plan order, keeping this node within `limits` given what is
 * already running. Skips moves already in flight; never mutates its arguments.
 */
export function nextMoves<M extends Move>(plan: readonly M[], inFlight: MovesInFlight, limits: MigrationLimits = migrationLimits()): M[] {
  const picked: M[] = [];
  let out = inFlight.out.size;
  const perTarget = new Map(inFlight.perTargetCount);
  for (const move of plan) {
    if (out >= limits.outMax) break;
    if (inFlight.out.has(moveKey(move))) continue;
    const into = perTarget.get(move.to) ?? 0;
    if (into >= limits.inMax) continue;
    picked.push(move);
    perTarget.set(move.to, into + 1);
    out++;
  }
  return picked;
}
