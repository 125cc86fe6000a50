/**
 * The rebalance simulator's model of server/cluster/resync.ts (Resyncer): the copies a node owes
 * a resync because a replica write from it failed, and the syncs running. Synchronous and without
 * timers: the node (rebalance-node.ts) runs `start` from a `resync` task, streams each sync like a
 * move (kind SYNC), and reports its end to `finished`.
 *
 *   entries   pid → { target → failures noted }      one per (partition, target), as resync.ts
 *   running   "pid>target" of the syncs in flight     RESYNC_CONCURRENCY at most
 *
 * resync.ts today (`keep`, ShellModel.replicaRepair "resync"): an entry leaves when a sync that
 * started after its last failure completed (in the one cluster it ran in), when `check` finds its
 * target no write target any more ("target-gone"), or the whole entry when this node holds
 * nothing of the partition ("nothing-held"); a cluster change keeps every entry (`diverged` lists
 * them for the core's event, `owes` holds this node's drop of them back).
 * Before (`keep` false, "resync-forget" and "resync-as-is"): a sync cleared its entry only if it
 * completed in the cluster it started in, there was no check, and `takeDiverged` at a cluster
 * change handed every open entry over to the core's `diverged` event and forgot it.
 *
 * Durable entries (`durable`, "resync"; server/storage/owed-syncs.ts): every (pid, target) that
 * enters an entry is added to the disk's `owed` in the same step (the server writes it when it
 * notes the failure; the simulator's write step notes it atomically with the write, and does not
 * model a crash between the two: see resync.ts "Crash windows"), removed when it leaves, and a
 * new process starts with what is there (Resyncer.restore). "resync-volatile": none.
 */
import type { NodeId } from "./rebalance-disk.js";

/** resync.ts RESYNC_CONCURRENCY. */
export const RESYNC_CONCURRENCY = 4;

/** ResyncDeps.check: whether a sync of (pid, target) makes sense now. */
export type ResyncCheck = "yes" | "target-gone" | "nothing-held";

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

  /**
   * `keep`: entries survive a cluster change (resync.ts today); else forgotten (before).
   * `durable`: the disk's owed syncs, loaded now and written through (Resyncer.restore); null:
   * memory only.
   */
  constructor(private readonly keep: boolean, private readonly durable: Map<number, Set<NodeId>> | null = null) {
    for (const [pid, targets] of durable ?? []) for (const to of targets) this.add(pid, to, false);
  }

  /** Copies owed a resync (resync.ts `pending`). */
  get pending(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.targets.size;
    return n;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Resyncer.owes: some copy of `pid` is still owed a sync from this node's copy (which must stay). */
  owes(pid: number): boolean {
    return this.keep && this.entries.has(pid);
  }

  /** Resyncer.noteFailed: a replica write of `pid` to `to` failed after it was stored here. */
  noteFailed(pid: number, to: NodeId): void {
    this.add(pid, to, true);
  }

  private add(pid: number, to: NodeId, write: boolean): void {
    let e = this.entries.get(pid);
    if (e === undefined) this.entries.set(pid, (e = { pid, targets: new Map() }));
    const failures = e.targets.get(to) ?? 0;
    e.targets.set(to, failures + 1);
    if (failures > 0 || !write || this.durable === null) return;
    let owed = this.durable.get(pid);
    if (owed === undefined) this.durable.set(pid, (owed = new Set()));
    owed.add(to);
  }

  /** Resyncer.forget: `to` (every target if undefined) leaves the entry of `pid`, and the disk. */
  private forget(e: Entry, to?: NodeId): void {
    for (const t of to === undefined ? [...e.targets.keys()] : [to]) {
      e.targets.delete(t);
      const owed = this.durable?.get(e.pid);
      if (owed?.delete(t) && owed.size === 0) this.durable!.delete(e.pid);
    }
    if (e.targets.size === 0) this.entries.delete(e.pid);
  }

  /**
   * At a cluster change: the partitions still owed a resync (Resyncer.diverged); before
   * (`keep` false, Resyncer.takeDiverged) they are forgotten too.
   */
  diverged(): number[] {
    const pids = [...this.entries.keys()];
    if (!this.keep) this.entries.clear();
    return pids;
  }

  /**
   * Resyncer.run: the syncs to start now in cluster `ck` (up to RESYNC_CONCURRENCY running);
   * each owed copy not being synced is checked first (`keep` only) and its entry or target left
   * out as resync.ts does.
   */
  start(ck: string, check: (pid: number, to: NodeId) => ResyncCheck): SyncRun[] {
    const out: SyncRun[] = [];
    for (const [pid, e] of this.entries) {
      for (const [to, failures] of e.targets) {
        const id = `${e.pid}>${to}`;
        if (this.running.has(id)) continue;
        if (this.keep) {
          const c = check(pid, to);
          if (c === "nothing-held") {
            this.forget(e);
            break;
          }
          if (c === "target-gone") {
            this.forget(e, to);
            continue;
          }
        }
        if (this.running.size >= RESYNC_CONCURRENCY) return out;
        this.running.add(id);
        out.push({ id, pid: e.pid, to, ck, entry: e, failures });
      }
    }
    return out;
  }

  /**
   * A sync ended (`ok`: completed) while the node runs cluster `ck`. Clears its entry only if no
   * failure came since it started (and, before, only if it completed in its own cluster). Returns
   * whether entries are left (the node wakes again).
   */
  finished(run: SyncRun, ok: boolean, ck: string | null): boolean {
    if (ok && (this.keep || ck === run.ck) && this.entries.get(run.pid) === run.entry && run.entry.targets.get(run.to) === run.failures) {
      this.forget(run.entry, run.to);
    }
    this.running.delete(run.id);
    return this.entries.size > 0;
  }
}
