/**
 * The rebalance simulator's model of server/cluster/resync.ts (Resyncer): the copies a node owes
 * a resync because a replica write from it failed, and the syncs running. Synchronous and without
 * timers: the node (rebalance-node.ts) runs `start` from a `resync` task, streams each sync like a
 * move (kind SYNC), and reports its end to `finished`.
 *
 *   entries   pid → { target → failures noted }      one per (partition, target), as resync.ts
 *   running   "pid>target" of the syncs in flight     RESYNC_CONCURRENCY at most
 *
 * An entry clears only when a sync that started after its last failure completed in the same
 * cluster; `takeDiverged` (a cluster change) hands every open entry over to the core's `diverged`
 * event and forgets it.
 */
import type { NodeId } from "./rebalance-disk.js";

/** resync.ts RESYNC_CONCURRENCY. */
export const RESYNC_CONCURRENCY = 4;

interface Entry {
  readonly pid: number;
  /** Target → failures noted so far. */
  readonly targets: Map<NodeId, number>;
}

/** One sync, from its start to its end: what `finished` compares against. */
export interface SyncRun {
  readonly id: string;
  readonly pid: number;
  readonly to: NodeId;
  readonly ck: string;
  readonly entry: Entry;
  /** The entry's failure count for `to` when the sync started. */
  readonly failures: number;
}

export class OwedResyncs {
  private readonly entries = new Map<number, Entry>();
  private readonly running = new Set<string>();

  /** Copies owed a resync (resync.ts `pending`). */
  get pending(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.targets.size;
    return n;
  }

  get size(): number {
    return this.entries.size;
  }

  owes(pid: number, to: NodeId): boolean {
    return this.entries.get(pid)?.targets.has(to) ?? false;
  }

  /** Resyncer.noteFailed: a replica write of `pid` to `to` failed after it was stored here. */
  noteFailed(pid: number, to: NodeId): void {
    let e = this.entries.get(pid);
    if (e === undefined) this.entries.set(pid, (e = { pid, targets: new Map() }));
    e.targets.set(to, (e.targets.get(to) ?? 0) + 1);
  }

  /** Resyncer.takeDiverged: the partitions still owed a resync; forgets them. */
  takeDiverged(): number[] {
    const pids = [...this.entries.keys()];
    this.entries.clear();
    return pids;
  }

  /** Resyncer.run: the syncs to start now in cluster `ck` (up to RESYNC_CONCURRENCY running). */
  start(ck: string): SyncRun[] {
    const out: SyncRun[] = [];
    for (const e of this.entries.values()) {
      for (const [to, failures] of e.targets) {
        const id = `${e.pid}>${to}`;
        if (this.running.has(id)) continue;
        if (this.running.size >= RESYNC_CONCURRENCY) return out;
        this.running.add(id);
        out.push({ id, pid: e.pid, to, ck, entry: e, failures });
      }
    }
    return out;
  }

  /**
   * A sync ended (`ok`: completed) while the node runs cluster `ck`. Clears its entry only if it
   * completed in its own cluster and no failure came since it started. Returns whether entries
   * are left (the node wakes again).
   */
  finished(run: SyncRun, ok: boolean, ck: string | null): boolean {
    if (ok && ck === run.ck && this.entries.get(run.pid) === run.entry && run.entry.targets.get(run.to) === run.failures) {
      run.entry.targets.delete(run.to);
      if (run.entry.targets.size === 0) this.entries.delete(run.pid);
    }
    this.running.delete(run.id);
    return this.entries.size > 0;
  }
}
