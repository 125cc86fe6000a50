/**
 * Owed syncs, kept durably beside the records (server/cluster/resync.ts).
 *
 * A master whose replica write to a target failed owes that target a sync of the partition: the
 * target's copy lacks a write although ownership counts it in line. If the master's process dies
 * before the sync completes, nothing else knows the copy is stale: the master's own copy merges
 * after the restart (into the acting master only), so a third copy in line keeps the older record
 * for good (rebalance-known-bugs.test.ts, gap 5). So the Resyncer records each (namespace,
 * partition, target) here when it notes the first failure, removes it when the sync completes or
 * becomes moot, and reloads what is left when the node starts.
 *
 *   LMDB     one named database in the node's environment (LmdbEnvironment.metaDb(OWED_SYNCS_DB)),
 *            key [ns, pid, target] (lmdb-js ordered keys), value the time the failure was noted (ms)
 *   memory   a node whose namespaces all live in memory: its records die with the process, and so
 *            may its owed syncs (nothing is left to send after a restart). Also the tests' log.
 *
 * Invariants:
 * - `add` and `remove` are issued in the order the Resyncer decides them, and LMDB commits writes
 *   in issue order, so the last word on an entry is the one that survives; the write is
 *   asynchronous (durable a few ms later, with the batch it joins).
 * - `load` returns only well-formed entries (a malformed one is removed); duplicates cannot exist.
 * - A write failure (disk full; environment closed at shutdown: not attempted) is reported and otherwise ignored:
 *   the worst it costs is a sync that runs again after a restart, or one that is not resumed.
 */
import type { Database } from "lmdb";
import { PARTITION_COUNT } from "../../client/protocol/constants.js";

/** The named database holding owed syncs (not a namespace's: those are "ns/…"). */
export const OWED_SYNCS_DB = "resync/owed";

/** One copy owed a sync: `target`'s copy of partition `pid` of namespace `ns` missed a write. */
export interface OwedSync {
  readonly ns: string;
  readonly pid: number;
  readonly target: string;
}

/** Where the Resyncer keeps its entries across restarts. */
export interface OwedSyncLog {
  /** The entries recorded and not removed (read once, when the node starts). */
  load(): OwedSync[];
  /** Records an entry (idempotent). */
  add(e: OwedSync): void;
  /** Removes an entry (idempotent). */
  remove(e: OwedSync): void;
}

function wellFormed(ns: unknown, pid: unknown, target: unknown): boolean {
  return typeof ns === "string" && ns.length > 0 && typeof target === "string" && target.length > 0
    && Number.isInteger(pid) && (pid as number) >= 0 && (pid as number) < PARTITION_COUNT;
}

/** Owed syncs in a named LMDB database of the node's environment. */
export class LmdbOwedSyncs implements OwedSyncLog {
  constructor(
    private readonly db: Database,
    /** The environment `db` lives in (LmdbEnvironment): lmdb-js throws asynchronously on a write after close. */
    private readonly env: { readonly closed: boolean },
    /** A write that failed or was refused (logged by the caller). */
    private readonly onError: (err: unknown) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  load(): OwedSync[] {
    const out: OwedSync[] = [];
    for (const { key } of this.db.getRange({})) {
      const [ns, pid, target] = Array.isArray(key) ? (key as unknown[]) : [];
      if (Array.isArray(key) && key.length === 3 && wellFormed(ns, pid, target)) out.push({ ns: ns as string, pid: pid as number, target: target as string });
      else this.write(() => this.db.remove(key));
    }
    return out;
  }

  add(e: OwedSync): void {
    this.write(() => this.db.put([e.ns, e.pid, e.target], this.now()));
  }

  remove(e: OwedSync): void {
    this.write(() => this.db.remove([e.ns, e.pid, e.target]));
  }

  private write(op: () => Promise<unknown>): void {
    if (this.env.closed) return this.onError(new Error("owed syncs: LMDB environment is closed"));
    try {
      op().catch(this.onError);
    } catch (err) {
      this.onError(err);
    }
  }
}

/** Owed syncs in process memory: a memory-storage node, and tests (one instance = one "disk"). */
export class MemoryOwedSyncs implements OwedSyncLog {
  private readonly entries = new Map<string, OwedSync>();

  get size(): number {
    return this.entries.size;
  }

  load(): OwedSync[] {
    return [...this.entries.values()];
  }

  add(e: OwedSync): void {
    if (wellFormed(e.ns, e.pid, e.target)) this.entries.set(JSON.stringify([e.ns, e.pid, e.target]), { ns: e.ns, pid: e.pid, target: e.target });
  }

  remove(e: OwedSync): void {
    this.entries.delete(JSON.stringify([e.ns, e.pid, e.target]));
  }
}
