/**
 * Tombstone reclaimer: removes a delete's tombstone once every holder of its partition has it.
 *
 * Rule (the decision is `Ownership.settled` plus the roster; this class only scans and removes):
 *   a tombstone in partition p is removed when
 *     - p is settled in this node's current ownership: every succession node full and in line,
 *       nothing left to merge, and no other member holds any of p — so every member holding p
 *       got the delete, by replication or by a fill that carried the tombstone;
 *     - no recent member is away (Roster.absent is empty): a node that left may come back with
 *       the deleted record, and only the tombstone would overrule it in the merge;
 *     - it is at least `tombstoneReclaimAgeMs` old (default 60 s), far above the time it takes to
 *       notice a dead node or a split, so a member that vanished just before the delete is
 *       already counted as away.
 * Tombstones that never qualify (a member away for long) are still dropped by the expiry sweeper
 * after TOMBSTONE_RETAIN_SEC (24 h).
 *
 * Cost: only partitions whose store hint says they may hold tombstones are scanned (a store opened
 * on old data starts with every partition hinted: one pass after start). The hint is cleared before
 * a scan and set again when a young tombstone stays, so a delete racing the scan keeps its hint.
 * Each pass removes at most REMOVALS_PER_PASS and yields to the event loop between partitions.
 */
import { PARTITION_COUNT } from "../../client/protocol/constants.js";
import type { Ownership } from "../core/partition-ownership.js";
import type { Namespace } from "../service/namespace.js";
import type { VersionedDigest } from "../storage/record-store.js";
import { isTombstoneValue } from "../storage/record-codec.js";

const PERIOD_MS = 1000;
const REMOVALS_PER_PASS = 10_000;

export interface ReclaimerDeps {
  readonly namespaces: ReadonlyMap<string, Namespace>;
  /** The current ownership of a namespace, null while being recomputed after a cluster change. */
  ownership(ns: string): Ownership | null;
  /** Recent members that are not in the cluster now. */
  absentCount(): number;
  now(): number;
  readonly log: { warn(obj: object, msg: string): void };
}

export class TombstoneReclaimer {
  reclaimed = 0;
  private readonly timer: NodeJS.Timeout;
  private running = false;
  private closed = false;

  constructor(private readonly deps: ReclaimerDeps) {
    this.timer = setInterval(() => {
      if (this.running || this.closed) return;
      this.running = true;
      this.pass().catch((err) => this.deps.log.warn({ err }, "tombstone reclaim failed")).finally(() => (this.running = false));
    }, PERIOD_MS);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  /** One pass over the hinted partitions of every namespace. Resolves with the removals. */
  async pass(): Promise<number> {
    let removed = 0;
    for (const ns of this.deps.namespaces.values()) {
      const hints = ns.store.tombstoneHints;
      for (let pid = 0; pid < PARTITION_COUNT && removed < REMOVALS_PER_PASS; pid++) {
        if (hints[pid] === 0) continue;
        if (this.closed || this.deps.absentCount() > 0) return removed;
        const own = this.deps.ownership(ns.name);
        if (!own || !own.settled(pid)) continue;
        removed += await this.reclaimPartition(ns, pid, this.deps.now() - ns.tombstoneReclaimAgeMs);
        await new Promise((r) => setImmediate(r));
      }
    }
    this.reclaimed += removed;
    return removed;
  }

  private async reclaimPartition(ns: Namespace, pid: number, cutoffMs: number): Promise<number> {
    const hints = ns.store.tombstoneHints;
    hints[pid] = 0;
    const old: VersionedDigest[] = [];
    for (const e of ns.store.partitionEncoded(pid)) {
      if (!isTombstoneValue(e.value)) continue;
      if (e.lastUpdateMs <= cutoffMs) old.push(e);
      else hints[pid] = 1;
    }
    // Only the very tombstones scanned go: a write since then changed the version.
    return old.length === 0 ? 0 : ns.store.removeIfUnchanged(old);
  }
}
