/**
 * Partition ownership: who may serve, who must receive writes, and who may drop each partition,
 * given the partition map and what every member actually holds. Pure: no I/O, clock or randomness.
 *
 * The map (partition-map.ts) says where partitions SHOULD live; it is memoryless. Holdings say
 * where they DO live. After every cluster change each member announces its Holdings per namespace,
 * and every member computes the same Ownership from (map, holdings):
 *
 *     Holdings (per node)                        bit p of each 512-byte bitmap: byte[p>>3] & (0x80 >> (p&7))
 *       full      holds p in full (a complete copy of its line, below)
 *       partial   holds some records of p, not in full (interrupted fill, disk data after a boot,
 *                 a copy already handed to the acting master by a merge)
 *       current   the copy was made in THIS cluster from the acting master's line: filled,
 *                 claimed by genesis, or handed over by a merge
 *       unmerged  the copy may hold writes that no other copy is known to have (a booted node's disk,
 *                 a copy that still had to merge when the cluster changed, a master's copy whose
 *                 replica write failed and was not repaired before it changed): merge it, whatever the keys.
 *                 On a current copy it is a mark instead: the copy was full and unmerged in this
 *                 cluster and has been handed over (see "Lines")
 *       lastClusterKey   the cluster in which the node's other carried copies were last in line
 *
 * Lines. Within one cluster every full copy of p receives every write (writeTargets), so copies
 * that were full and in line at the end of the same cluster K are identical: they share the line
 * K. Copies from different clusters (split brain, a node that ran alone) may differ: a copy whose
 * line differs from the acting master's must be merged into it (merge by generation, then
 * last-update time; record-rules.ts). An `unmerged` copy is a line of its own: when the acting
 * master's line comes from one, no carried copy is in line with it, even after that copy merged
 * away. So a full unmerged copy keeps `unmerged` as a mark when it is handed over
 * (`merge-completed`) and refilled (`fill-completed`), until the next cluster change clears it
 * (the copy is current, so in line).
 *
 * Decisions, per partition p (members = map.nodes; a member that announced nothing holds nothing):
 *   acting master   the first full node of the succession; else the highest-id full member (an old
 *                   holder serves until the new ones are filled); else, when no member is full,
 *                   the map master: GENESIS, it is full by fiat (there is nothing to copy) and the
 *                   shell marks its bit (`genesis-claimed`).
 *   primary line    the line of the source: the first node in succession order (else the highest-
 *                   id one) whose copy is carried (not current) and full, or current and marked
 *                   unmerged. None (NO_LINE) when the source is unmerged or marked, or there is no
 *                   source. The source cannot change while a merge is pending: within a cluster no
 *                   copy becomes a candidate; an unmerged candidate that merges away keeps its rank
 *                   (the mark); a clean one is of the primary line, so it never merges; and drops
 *                   wait until no merge is pending. So a carried copy that needs a merge needs it
 *                   until it merged (property-tested). Earlier rules broke this twice, each time
 *                   passing the line to a copy still waiting to merge, which then looked in line
 *                   and was dropped unmerged: an old holder that defined the line was dropped
 *                   (found by the model in migration-plan.test.ts), and an unmerged source merged
 *                   away unmarked (found by the rebalance simulator, rebalance-known-bugs.test.ts).
 *   needs merge     a member other than the acting master whose carried copy (full or partial) is
 *                   unmerged or of another line than the primary. A partial copy of another line
 *                   merges too, even when a full copy of its line will: else a fill would mix its
 *                   records into the new in-line copy before that merge, and readers would differ
 *                   (also found by the model).
 *   readable        full, not needing a merge, and in the succession or the acting master. The
 *                   readable nodes in acting order (acting master, then succession order) claim
 *                   replica indexes 0, 1, ... in the `replicas` info command.
 *   write targets   acting master, readable succession nodes, the other succession nodes (filling),
 *                   then full non-succession members (old holders and divergent copies).
 *   complete        every succession node readable. dropSafe: complete, no member of p needs a
 *                   merge, the node holds data and is not in the succession.
 *
 * Invariants (asserted or property-tested in test/unit/partition-ownership.test.ts):
 *   - the acting master is full (or genesis: no member is full) and never needs a merge;
 *   - exactly one node claims index 0 per partition; only full, in-line nodes claim;
 *   - write targets are distinct and cover the acting master, the succession, every full member;
 *   - a node is never dropSafe while some succession node is not readable, or while any copy of
 *     the partition still needs a merge: no copy is deleted before its data lives on the owners.
 *
 * Contract with the shell. Compute ownership only once every map member has announced holdings for
 * the current cluster (else a missing announcement looks like "nobody holds p" and genesis would
 * start an empty line next to a real one). The acting master applies merged records like writes:
 * each record that wins is replicated to the other write targets, so filling and replica copies
 * see it. On a cluster change the node announces `nextHoldings(h, cluster-entered)` with the
 * Ownership it last computed: copies known to be in line take the old cluster's key, the rest
 * become `unmerged`. A node that stores a replicated write for a partition it holds nothing of
 * records `fill-started` (it now holds data, so it will be dropped or filled, never orphaned).
 * That is all the state a node needs: the model test checks that no acknowledged write is lost.
 *
 * Layout: one flags byte per (partition, member), row-major by partition, plus per-partition
 * arrays; write targets in CSR form. While building, a per-partition list of the members holding
 * data lets each partition visit only its holders and succession. Cost O(4096 · (R + holders) +
 * bitmap bytes); ~1–2 ms at N = 32, rf 3 (the test prints it).
 *
 *     flags[pid * N + i]     FULL CURRENT PARTIAL UNMERGED SUCC EFFECTIVE_FULL NEEDS_MERGE IN_LINE
 *     claimPos[pid * N + i]  0 = claims master, 1.. replica index, 0xff = claims nothing
 *     targets[targetStart[pid] .. targetStart[pid+1])   member indexes, acting master first
 */
import assert from "node:assert";
import { PARTITION_COUNT } from "../../client/protocol/constants.js";
import type { NodeId } from "./membership.js";
import type { PartitionMap } from "./partition-map.js";

/** Bytes of a partition bitmap: one bit per partition, MSB first. */
export const PARTITION_BITMAP_BYTES = PARTITION_COUNT / 8;
assert(Number.isInteger(PARTITION_BITMAP_BYTES), "PARTITION_COUNT is a multiple of 8");

const F_FULL = 1;
const F_CURRENT = 2;
const F_PARTIAL = 4;
const F_UNMERGED = 8;
const F_SUCCESSION = 16;
const F_EFFECTIVE_FULL = 32;
const F_NEEDS_MERGE = 64;
const F_IN_LINE = 128;
const F_DATA = F_FULL | F_PARTIAL;
const NO_CLAIM = 0xff;
/** Line id of "no primary line" (no carried full copy); real line ids are ≥ 0. */
const NO_LINE = -1;

// ── bitmaps ───────────────────────────────────────────────────────────────────────────────────

export function emptyPartitionBitmap(): Uint8Array {
  return new Uint8Array(PARTITION_BITMAP_BYTES);
}

export function partitionBitmapOf(pids: Iterable<number>): Uint8Array {
  const bitmap = emptyPartitionBitmap();
  for (const pid of pids) {
    checkPid(pid);
    bitmap[pid >> 3]! |= 0x80 >> (pid & 7);
  }
  return bitmap;
}

/** Bit `pid` of `bitmap`; an absent bitmap is empty. */
export function hasPartition(bitmap: Uint8Array | undefined, pid: number): boolean {
  return bitmap !== undefined && (bitmap[pid >> 3]! & (0x80 >> (pid & 7))) !== 0;
}

/** `h` holds data of `pid`: a full or a partial copy. */
export function holdsPartition(h: Holdings, pid: number): boolean {
  return hasPartition(h.full, pid) || hasPartition(h.partial, pid);
}

export function countPartitions(bitmap: Uint8Array | undefined): number {
  let count = 0;
  if (bitmap === undefined) return 0;
  for (const byte of bitmap) {
    let b = byte;
    while (b !== 0) { b &= b - 1; count++; }
  }
  return count;
}

/** A copy of `bitmap` with the bits of `pids` set (on) or cleared. */
function withBits(bitmap: Uint8Array | undefined, pids: readonly number[], on: boolean): Uint8Array {
  const out = bitmap === undefined ? emptyPartitionBitmap() : Uint8Array.from(bitmap);
  for (const pid of pids) {
    checkPid(pid);
    if (on) out[pid >> 3]! |= 0x80 >> (pid & 7);
    else out[pid >> 3]! &= ~(0x80 >> (pid & 7));
  }
  return out;
}

function checkBitmap(bitmap: Uint8Array | undefined, what: string): void {
  assert(bitmap === undefined || (bitmap instanceof Uint8Array && bitmap.length === PARTITION_BITMAP_BYTES),
    `${what} must be a ${PARTITION_BITMAP_BYTES}-byte partition bitmap`);
}

function checkPid(pid: number): void {
  // Called on every query: build the message only on failure.
  if (!(Number.isInteger(pid) && pid >= 0 && pid < PARTITION_COUNT)) assert.fail(`partition id ${pid} outside 0..${PARTITION_COUNT - 1}`);
}

// ── holdings ──────────────────────────────────────────────────────────────────────────────────

/** What one member holds of one namespace, as it announces it after every cluster change. */
export interface Holdings {
  readonly node: NodeId;
  /** The cluster in which this node's carried, not-unmerged copies were last in line; null before any. */
  readonly lastClusterKey: string | null;
  /** Partitions held in full. */
  readonly full: Uint8Array;
  /** Partitions with some records but not in full (ignored where `full` is set). @default none */
  readonly partial?: Uint8Array;
  /** Copies (full or partial) made in the current cluster from the acting master's line. @default none */
  readonly current?: Uint8Array;
  /**
   * Copies that must be merged into the acting master whatever the keys; on a current copy, the
   * mark of a full unmerged copy handed over (see "Lines" in the header). @default none
   */
  readonly unmerged?: Uint8Array;
}

/** How a node's holdings change; the shell applies these and re-announces. */
export type HoldingsEvent =
  /** A new cluster was installed. `lastOwnership`: the last Ownership computed in the one just left. */
  | { readonly kind: "cluster-entered"; readonly previousClusterKey: string | null; readonly lastOwnership: Ownership | null }
  /** The first chunk of a fill, or a replicated write, arrived for a partition held in nothing: partial, in line. */
  | { readonly kind: "fill-started"; readonly pids: readonly number[] }
  /** A fill completed: full and in line. */
  | { readonly kind: "fill-completed"; readonly pids: readonly number[] }
  /** This node's copy was merged into the acting master: now a partial, in-line copy (marked, if it was full and unmerged). */
  | { readonly kind: "merge-completed"; readonly pids: readonly number[] }
  /** Genesis: this node is the map master of partitions nobody holds; full by fiat. */
  | { readonly kind: "genesis-claimed"; readonly pids: readonly number[] }
  /** The copy was deleted (after dropSafe). */
  | { readonly kind: "dropped"; readonly pids: readonly number[] }
  /**
   * The copy may hold writes another copy in line missed (a replica write from here failed and
   * the cluster changed before a resync repaired it): unmerged, so it merges in this cluster.
   */
  | { readonly kind: "diverged"; readonly pids: readonly number[] };

/**
 * Holdings of a node that just started: nothing in full. What it finds on disk (`onDisk`) is
 * partial and unmerged: it may be stale, and it may be the only copy of some writes.
 */
export function bootHoldings(node: NodeId, onDisk?: Uint8Array): Holdings {
  checkBitmap(onDisk, "onDisk");
  const disk = onDisk === undefined ? emptyPartitionBitmap() : Uint8Array.from(onDisk);
  return { node, lastClusterKey: null, full: emptyPartitionBitmap(), partial: disk, current: emptyPartitionBitmap(), unmerged: Uint8Array.from(disk) };
}

/** The holdings after `event`; never mutates `h`. */
export function nextHoldings(h: Holdings, event: HoldingsEvent): Holdings {
  switch (event.kind) {
    case "cluster-entered": return enterCluster(h, event.previousClusterKey, event.lastOwnership);
    case "fill-started": {
      const pids = event.pids.filter((pid) => !hasPartition(h.full, pid));
      return { ...h, partial: withBits(h.partial, pids, true), current: withBits(h.current, pids, true) };
    }
    case "fill-completed":
    case "genesis-claimed":
      // A current copy keeps its unmerged mark (see "Lines" in the header); a carried one is now in line.
      return {
        ...h, full: withBits(h.full, event.pids, true), partial: withBits(h.partial, event.pids, false),
        current: withBits(h.current, event.pids, true),
        unmerged: withBits(h.unmerged, event.pids.filter((pid) => !hasPartition(h.current, pid)), false),
      };
    case "merge-completed":
      // The acting master now has everything this copy had, but this copy lacks what the master
      // had: it is no longer full (it would serve stale reads), and it is in line (nothing to merge).
      // A full unmerged copy (or one marked so already) keeps `unmerged`: it may have been the
      // copy whose line the acting master's is, a line of its own (see "Lines" in the header).
      return {
        ...h, full: withBits(h.full, event.pids, false), partial: withBits(h.partial, event.pids, true),
        current: withBits(h.current, event.pids, true),
        unmerged: withBits(h.unmerged, event.pids.filter((pid) => !hasPartition(h.full, pid) && !hasPartition(h.current, pid)), false),
      };
    case "diverged": {
      const held = event.pids.filter((pid) => holdsPartition(h, pid));
      return { ...h, unmerged: withBits(h.unmerged, held, true) };
    }
    case "dropped":
      return {
        node: h.node, lastClusterKey: h.lastClusterKey, full: withBits(h.full, event.pids, false),
        partial: withBits(h.partial, event.pids, false), current: withBits(h.current, event.pids, false),
        unmerged: withBits(h.unmerged, event.pids, false),
      };
  }
}

/**
 * On a cluster change: copies in line in the cluster just left take its key; the rest (still
 * waiting to merge, or of unknown line) become unmerged so that the next cluster merges them.
 * Without an Ownership of the cluster left, nothing is known to be in line: everything held is
 * unmerged (safe; it costs a merge).
 */
function enterCluster(h: Holdings, previousClusterKey: string | null, own: Ownership | null): Holdings {
  const full = Uint8Array.from(h.full);
  const partial = emptyPartitionBitmap();
  const unmerged = emptyPartitionBitmap();
  const known = previousClusterKey !== null && own !== null;
  for (let pid = 0; pid < PARTITION_COUNT; pid++) {
    const isFull = hasPartition(h.full, pid);
    if (!isFull && !hasPartition(h.partial, pid)) continue;
    const bit = 0x80 >> (pid & 7);
    if (!isFull) partial[pid >> 3]! |= bit;
    const inLine = known && (hasPartition(h.current, pid) || own.inLine(pid, h.node));
    if (!inLine) unmerged[pid >> 3]! |= bit;
  }
  return { node: h.node, lastClusterKey: known ? previousClusterKey : h.lastClusterKey, full, partial, current: emptyPartitionBitmap(), unmerged };
}

// ── ownership ─────────────────────────────────────────────────────────────────────────────────

export interface OwnershipSummary {
  /** Partitions no member holds in full: the map master claims them empty. */
  readonly genesis: number;
  /** Partitions with fewer than R full copies on members (any line, any position). */
  readonly belowReplicationFactor: number;
  /** Partitions whose every succession node is full and in line. */
  readonly complete: number;
  /** Partitions where some member still has to merge its copy into the acting master. */
  readonly merging: number;
}

/** Partitions a node claims in the `replicas` info command. */
export interface OwnershipClaims {
  readonly master: number;
  readonly replica: number;
}

interface OwnershipArrays {
  readonly flags: Uint8Array;
  readonly claimPos: Uint8Array;
  readonly actingMaster: Uint16Array;
  readonly genesis: Uint8Array;
  readonly claimCount: Uint8Array;
  readonly successionReady: Uint16Array;
  readonly fullCopies: Uint16Array;
  /** 1 when some member of the partition still needs a merge. */
  readonly merging: Uint8Array;
  readonly targetStart: Uint32Array;
  readonly targets: Uint16Array;
}

/** Who serves, receives and may drop each partition. An immutable value: build it with computeOwnership. */
export class Ownership {
  readonly map: PartitionMap;
  readonly summary: OwnershipSummary;
  readonly #a: OwnershipArrays;
  readonly #n: number;
  readonly #writeTargets: (readonly NodeId[] | undefined)[] = new Array(PARTITION_COUNT);

  /** @internal use computeOwnership. */
  constructor(map: PartitionMap, arrays: OwnershipArrays, summary: OwnershipSummary) {
    this.map = map;
    this.#a = arrays;
    this.#n = map.nodes.length;
    this.summary = Object.freeze(summary);
  }

  /** The node that orders writes to `pid` and serves it first. */
  actingMaster(pid: number): NodeId {
    checkPid(pid);
    return this.map.nodes[this.#a.actingMaster[pid]!]!;
  }

  /** No member holds `pid` in full: the acting (map) master claims it empty (`genesis-claimed`). */
  genesis(pid: number): boolean {
    checkPid(pid);
    return this.#a.genesis[pid] === 1;
  }

  /** Every node a write to `pid` must reach, acting master first; distinct. */
  writeTargets(pid: number): readonly NodeId[] {
    checkPid(pid);
    let cached = this.#writeTargets[pid];
    if (cached === undefined) {
      const out: NodeId[] = [];
      for (let k = this.#a.targetStart[pid]!; k < this.#a.targetStart[pid + 1]!; k++) out.push(this.map.nodes[this.#a.targets[k]!]!);
      cached = Object.freeze(out);
      this.#writeTargets[pid] = cached;
    }
    return cached;
  }

  /** The readable nodes of `pid` in claim order: index i claims replica index i. */
  claimants(pid: number): readonly NodeId[] {
    return this.writeTargets(pid).slice(0, this.#a.claimCount[pid]!);
  }

  /** The replica index `node` claims for `pid`, or -1. */
  claimIndexOf(pid: number, node: NodeId): number {
    const pos = this.#flagIndex(pid, node);
    return pos < 0 || this.#a.claimPos[pos] === NO_CLAIM ? -1 : this.#a.claimPos[pos]!;
  }

  /** May `node` serve a read of `pid`: full, in line, and in the succession or the acting master. */
  readable(pid: number, node: NodeId): boolean {
    return this.claimIndexOf(pid, node) >= 0;
  }

  /** `node` holds `pid` in full (the genesis master counts as full). */
  isFull(pid: number, node: NodeId): boolean {
    return this.#has(pid, node, F_EFFECTIVE_FULL);
  }

  /** `node` holds some records of `pid` (full or partial). */
  holdsData(pid: number, node: NodeId): boolean {
    return this.#has(pid, node, F_DATA);
  }

  /** `node` must merge its copy of `pid` into the acting master before it may be dropped or refilled. */
  needsMerge(pid: number, node: NodeId): boolean {
    return this.#has(pid, node, F_NEEDS_MERGE);
  }

  /** `node`'s copy of `pid` is known to hold nothing outside the acting master's line. */
  inLine(pid: number, node: NodeId): boolean {
    return this.#has(pid, node, F_IN_LINE);
  }

  /** Every succession node of `pid` is full and in line. */
  complete(pid: number): boolean {
    checkPid(pid);
    return this.#a.successionReady[pid] === this.map.replicationFactor;
  }

  /**
   * `node` may delete its copy of `pid`: it holds one, is not in the succession, `pid` is complete,
   * and no member still has to merge a copy of `pid` (see the header: drops wait for merges).
   */
  dropSafe(pid: number, node: NodeId): boolean {
    const pos = this.#flagIndex(pid, node);
    if (pos < 0) return false;
    const f = this.#a.flags[pos]!;
    return (f & F_DATA) !== 0 && (f & F_SUCCESSION) === 0 && this.#a.merging[pid] === 0 && this.complete(pid);
  }

  /**
   * `pid` is at rest: complete, nothing to merge, and no member outside the succession holds any
   * of it. Then every member holding `pid` got each delete of it, directly or by a fill.
   */
  settled(pid: number): boolean {
    if (!this.complete(pid) || this.#a.merging[pid] === 1) return false;
    for (let i = 0, at = pid * this.#n; i < this.#n; i++, at++) {
      const f = this.#a.flags[at]!;
      if ((f & F_DATA) !== 0 && (f & F_SUCCESSION) === 0) return false;
    }
    return true;
  }

  /** Some member still has to merge its copy of `pid` into the acting master. */
  merging(pid: number): boolean {
    checkPid(pid);
    return this.#a.merging[pid] === 1;
  }

  /** Full and in-line succession copies of `pid` (R when complete). */
  successionFullCopies(pid: number): number {
    checkPid(pid);
    return this.#a.successionReady[pid]!;
  }

  /** Members holding `pid` in full, any line or position (the genesis master counts). */
  fullCopies(pid: number): number {
    checkPid(pid);
    return this.#a.fullCopies[pid]!;
  }

  /** Partitions `node` may delete now. */
  partitionsToDrop(node: NodeId): number[] {
    const out: number[] = [];
    const i = this.map.indexOf(node);
    if (i < 0) return out;
    // dropSafe for every pid, unrolled (this runs on every recomputation, 4096 partitions).
    const { flags, merging, successionReady } = this.#a;
    const r = this.map.replicationFactor;
    for (let pid = 0, at = i; pid < PARTITION_COUNT; pid++, at += this.#n) {
      const f = flags[at]!;
      if ((f & F_DATA) !== 0 && (f & F_SUCCESSION) === 0 && merging[pid] === 0 && successionReady[pid] === r) out.push(pid);
    }
    return out;
  }

  /**
   * What `node` claims in the `replicas` info command: for replica index 0..replicationFactor-1
   * a 512-byte bitmap (MSB first) of the partitions where it holds that index.
   */
  replicaBitmaps(node: NodeId, replicationFactor: number): Buffer[] {
    assert(Number.isInteger(replicationFactor) && replicationFactor >= 1 && replicationFactor < NO_CLAIM,
      `replicationFactor ${replicationFactor} must be an integer in 1..${NO_CLAIM - 1}`);
    const bitmaps = Array.from({ length: replicationFactor }, () => Buffer.alloc(PARTITION_BITMAP_BYTES));
    const i = this.map.indexOf(node);
    if (i < 0) return bitmaps;
    for (let pid = 0; pid < PARTITION_COUNT; pid++) {
      const pos = this.#a.claimPos[pid * this.#n + i]!;
      if (pos < replicationFactor) bitmaps[pos]![pid >> 3]! |= 0x80 >> (pid & 7);
    }
    return bitmaps;
  }

  /** How many partitions `node` claims as master and as a replica. */
  claims(node: NodeId): OwnershipClaims {
    const i = this.map.indexOf(node);
    let master = 0;
    let replica = 0;
    for (let pid = 0; pid < PARTITION_COUNT && i >= 0; pid++) {
      const pos = this.#a.claimPos[pid * this.#n + i]!;
      if (pos === 0) master++;
      else if (pos !== NO_CLAIM) replica++;
    }
    return { master, replica };
  }

  #flagIndex(pid: number, node: NodeId): number {
    checkPid(pid);
    const i = this.map.indexOf(node);
    return i < 0 ? -1 : pid * this.#n + i;
  }

  #has(pid: number, node: NodeId, mask: number): boolean {
    const pos = this.#flagIndex(pid, node);
    return pos >= 0 && (this.#a.flags[pos]! & mask) !== 0;
  }
}

/**
 * Ownership of every partition under `map`, given what each member holds. `holdings` must have an
 * entry for every map node (see the header: "Contract with the shell"); entries of other nodes
 * are ignored (they are not members of this cluster and cannot take writes).
 */
export function computeOwnership(map: PartitionMap, holdings: ReadonlyMap<NodeId, Holdings>): Ownership {
  const n = map.nodes.length;
  const r = map.replicationFactor;
  assert(r < NO_CLAIM, `replication factor ${r} must be below ${NO_CLAIM}`);
  const flags = new Uint8Array(PARTITION_COUNT * n);
  const holders = new Uint16Array(PARTITION_COUNT * n);
  const holderCount = new Uint16Array(PARTITION_COUNT);
  const lineOf = new Int32Array(n);
  const lineIds = new Map<string, number>();
  let lines = 0;
  for (let i = 0; i < n; i++) {
    const id = map.nodes[i]!;
    const h = holdings.get(id);
    if (h === undefined) assert.fail(`no holdings announced by member ${id}: compute ownership once every member has announced`);
    if (h.node !== id) assert.fail(`holdings under ${id} name node ${h.node}`);
    // A null key is a line of its own: two nodes without a history share nothing provably.
    if (h.lastClusterKey === null) lineOf[i] = lines++;
    else {
      let line = lineIds.get(h.lastClusterKey);
      if (line === undefined) { line = lines++; lineIds.set(h.lastClusterKey, line); }
      lineOf[i] = line;
    }
    spreadHoldings(flags, holders, holderCount, n, i, h);
  }
  const arrays: OwnershipArrays = {
    flags,
    claimPos: new Uint8Array(PARTITION_COUNT * n).fill(NO_CLAIM),
    actingMaster: new Uint16Array(PARTITION_COUNT),
    genesis: new Uint8Array(PARTITION_COUNT),
    claimCount: new Uint8Array(PARTITION_COUNT),
    successionReady: new Uint16Array(PARTITION_COUNT),
    fullCopies: new Uint16Array(PARTITION_COUNT),
    merging: new Uint8Array(PARTITION_COUNT),
    targetStart: new Uint32Array(PARTITION_COUNT + 1),
    targets: new Uint16Array(PARTITION_COUNT * n),
  };
  const scratch: Scratch = { lineOf, holders, holderCount };
  const summary = { genesis: 0, belowReplicationFactor: 0, complete: 0, merging: 0 };
  for (let pid = 0; pid < PARTITION_COUNT; pid++) {
    const merging = decidePartition(map, arrays, scratch, pid);
    arrays.merging[pid] = merging ? 1 : 0;
    summary.genesis += arrays.genesis[pid]!;
    if (arrays.fullCopies[pid]! < r) summary.belowReplicationFactor++;
    if (arrays.successionReady[pid] === r) summary.complete++;
    if (merging) summary.merging++;
  }
  return new Ownership(map, arrays, summary);
}

/** Working arrays of computeOwnership, dropped once it returns. */
interface Scratch {
  /** Line id of each member's carried copies (its interned lastClusterKey). */
  readonly lineOf: Int32Array;
  /** holders[pid * N .. + holderCount[pid]]: members holding data for pid, ascending. */
  readonly holders: Uint16Array;
  readonly holderCount: Uint16Array;
}

/**
 * Writes member `i`'s holdings into column `i` of `flags` (full supersedes partial; current and
 * unmerged count only where data is held) and appends `i` to the holders of those partitions.
 */
function spreadHoldings(flags: Uint8Array, holders: Uint16Array, holderCount: Uint16Array, n: number, i: number, h: Holdings): void {
  checkBitmap(h.full, "full");
  checkBitmap(h.partial, "partial");
  checkBitmap(h.current, "current");
  checkBitmap(h.unmerged, "unmerged");
  const { full, partial, current, unmerged } = h;
  for (let byte = 0; byte < PARTITION_BITMAP_BYTES; byte++) {
    const fb = full[byte]!;
    const data = fb | (partial === undefined ? 0 : partial[byte]!);
    if (data === 0) continue;
    const cb = current === undefined ? 0 : current[byte]!;
    const ub = unmerged === undefined ? 0 : unmerged[byte]!;
    for (let bit = 0; bit < 8; bit++) {
      const mask = 0x80 >> bit;
      if ((data & mask) === 0) continue;
      const pid = byte * 8 + bit;
      flags[pid * n + i] = (fb & mask ? F_FULL | F_EFFECTIVE_FULL : F_PARTIAL) | (cb & mask ? F_CURRENT : 0) | (ub & mask ? F_UNMERGED : 0);
      holders[pid * n + holderCount[pid]!++] = i;
    }
  }
}

/**
 * Fills in one partition: acting master, merge and line flags, claims, write targets, counts.
 * Returns whether some member needs a merge. Hot (4096 times per call): it visits only the
 * succession and the members holding data, and allocates nothing.
 */
function decidePartition(map: PartitionMap, a: OwnershipArrays, s: Scratch, pid: number): boolean {
  const n = map.nodes.length;
  const r = map.replicationFactor;
  const base = pid * n;
  const row = pid * r;
  const flags = a.flags;
  const table = map.table;
  const hBase = pid * n;
  const hEnd = hBase + s.holderCount[pid]!;
  let fullCopies = 0;
  for (let k = hBase; k < hEnd; k++) {
    const i = s.holders[k]!;
    const f = flags[base + i]!;
    if (f & F_FULL) fullCopies++;
  }
  for (let k = 0; k < r; k++) flags[base + table[row + k]!]! |= F_SUCCESSION;

  let am = firstFull(flags, table, base, row, r, s.holders, hBase, hEnd);
  if (am < 0) {
    am = table[row]!;
    a.genesis[pid] = 1;
    flags[base + am]! |= F_EFFECTIVE_FULL;
    fullCopies++;
  }
  a.actingMaster[pid] = am;
  a.fullCopies[pid] = fullCopies;
  const source = lineSource(flags, table, base, row, r, s.holders, hBase, hEnd);
  const primary = source < 0 || flags[base + source]! & F_UNMERGED ? NO_LINE : s.lineOf[source]!;
  let merging = false;
  for (let k = hBase; k < hEnd; k++) {
    const i = s.holders[k]!;
    const f = flags[base + i]!;
    // A carried copy is in line only if it is of the primary line (an unmerged copy is of none).
    const carriedInLine = (f & F_UNMERGED) === 0 && s.lineOf[i] === primary;
    const inLine = i === am || (f & F_CURRENT) !== 0 || carriedInLine;
    const needsMerge = !inLine;
    flags[base + i] = f | (needsMerge ? F_NEEDS_MERGE : 0) | (inLine ? F_IN_LINE : 0);
    merging ||= needsMerge;
  }
  orderTargets(map, a, s, pid, am);
  return merging;
}

/**
 * The first succession node that is full, else the highest-id full holder (holders ascend by
 * index, and map.nodes ascends by id); -1 if none.
 */
function firstFull(flags: Uint8Array, table: Readonly<Uint16Array>, base: number, row: number, r: number,
  holders: Uint16Array, hBase: number, hEnd: number): number {
  for (let k = 0; k < r; k++) {
    const i = table[row + k]!;
    if (flags[base + i]! & F_FULL) return i;
  }
  for (let k = hEnd - 1; k >= hBase; k--) {
    const i = holders[k]!;
    if (flags[base + i]! & F_FULL) return i;
  }
  return -1;
}

/**
 * The copy the primary line comes from: the first succession node, else the highest-id holder,
 * whose copy is carried and full, or current and marked unmerged (a copy that was carried, full
 * and unmerged in this cluster, then handed over: it ranks where it ranked then); -1 if none.
 */
function lineSource(flags: Uint8Array, table: Readonly<Uint16Array>, base: number, row: number, r: number,
  holders: Uint16Array, hBase: number, hEnd: number): number {
  for (let k = 0; k < r; k++) {
    const i = table[row + k]!;
    if (definesLine(flags[base + i]!)) return i;
  }
  for (let k = hEnd - 1; k >= hBase; k--) {
    const i = holders[k]!;
    if (definesLine(flags[base + i]!)) return i;
  }
  return -1;
}

function definesLine(f: number): boolean {
  return (f & (F_FULL | F_CURRENT)) === F_FULL || (f & (F_CURRENT | F_UNMERGED)) === (F_CURRENT | F_UNMERGED);
}

/** Claims and write targets: acting master, readable succession, other succession, full others. */
function orderTargets(map: PartitionMap, a: OwnershipArrays, s: Scratch, pid: number, am: number): void {
  const n = map.nodes.length;
  const r = map.replicationFactor;
  const base = pid * n;
  const row = pid * r;
  const { flags, claimPos, targets } = a;
  const amFlags = flags[base + am]!;
  assert((amFlags & (F_EFFECTIVE_FULL | F_NEEDS_MERGE)) === F_EFFECTIVE_FULL, "the acting master is full and in line");
  let out = a.targetStart[pid]!;
  targets[out++] = am;
  claimPos[base + am] = 0;
  let claims = 1;
  let ready = amFlags & F_SUCCESSION ? 1 : 0;
  for (let k = 0; k < r; k++) {
    const i = map.table[row + k]!;
    if (i === am || (flags[base + i]! & (F_EFFECTIVE_FULL | F_NEEDS_MERGE)) !== F_EFFECTIVE_FULL) continue;
    claimPos[base + i] = claims++;
    ready++;
    targets[out++] = i;
  }
  for (let k = 0; k < r; k++) {
    const i = map.table[row + k]!;
    if (claimPos[base + i] === NO_CLAIM) targets[out++] = i;
  }
  for (let k = pid * n + s.holderCount[pid]! - 1; k >= pid * n; k--) {
    const i = s.holders[k]!;
    if (i !== am && (flags[base + i]! & (F_SUCCESSION | F_FULL)) === F_FULL) targets[out++] = i;
  }
  a.claimCount[pid] = claims;
  a.successionReady[pid] = ready;
  a.targetStart[pid + 1] = out;
}
