/**
 * Resync: repairs a copy that missed a write.
 *
 * A master stores a write, then sends it to every other write target. When one of those replica
 * writes fails (the target is slow, unreachable, or went away), the write stands here (answered
 * in doubt to the client, or acknowledged under commit level "master") but the target's copy
 * lacks it, although both copies are "in line" as far as ownership knows: nothing would ever
 * reconcile them, and a later read served by the target would return the older record.
 *
 *   replica write to T fails ──► noteFailed(ns, pid, T) ──► (RESYNC_DELAY_MS) ──► sync move
 *        p from here to T: the migration stream with its delta, so only records T lacks or holds
 *        older go, and T keeps whatever is newer (records merge by version)
 *
 *   cluster changes first ──► diverged(): the partitions still owed a resync; the rebalancer
 *        marks its copies of them `unmerged` for the new cluster (partition-ownership.ts), so they
 *        merge into the acting master, whoever it is (that repairs the acting master's copy).
 *        The entries stay: the syncs go on in the new cluster to targets that are still write
 *        targets (that repairs the other copies in line, which the merge does not touch), and
 *        this node keeps its copy until they are done (`owes` holds its drop back).
 *
 *   process dies first ──► the entries are durable (OwedSyncLog, server/storage/owed-syncs.ts:
 *        a named LMDB database beside the records): `restore` reloads them at start, before the
 *        first cluster is entered, so they are marked diverged there (a restarted node's copies
 *        merge anyway) and their syncs resume once the new cluster's ownership is known, to
 *        targets that are still write targets, exactly as after a cluster change. The merge
 *        alone repairs only the acting master's copy; without the entry a third copy in line
 *        kept the older record for good (rebalance-known-bugs.test.ts, fixed gap 5).
 *
 * Crash windows: the entry is written when the first failure is noted, i.e. after the record is
 * stored here, when the replica write fails (at once if the target is unreachable, else at the
 * request timeout), whatever the client was told by then. A crash once the entry is durable loses
 * nothing. A crash before (the replica write still in flight, or the few ms until the entry's
 * LMDB batch commits) is a crash in the middle of a replicated write, which nothing repairs
 * either: the write may stand on some copies and not on others, with nobody owing a sync.
 * Answering the client only after the entry is durable would not change that (the write is in
 * doubt either way, and under commit level "master" the client is answered before the failure is
 * known). A per-partition mark written before the record (transaction.ts, ahead of the local put:
 * LMDB commits in issue order) would cover a record durable here; a replica that applied a write
 * which never became durable here is beyond any mark of this node.
 *
 * Invariants:
 * - An entry leaves only when a sync to that target, started after the entry's last failure,
 *   completed in one cluster (a failure during a sync keeps the entry: its write may have been
 *   read after the sync passed it), when the target is no write target of the partition any more
 *   (its copy goes), or when this node holds nothing of the partition (nothing left to send).
 * - Bounded: one entry per (namespace, partition, target); RESYNC_CONCURRENCY syncs at a time,
 *   each retried every RESYNC_RETRY_MS.
 * - The log holds exactly the entries' (namespace, partition, target) triples, written in the
 *   order they change: added when a target enters an entry, removed when it leaves (a sync that
 *   completes after `close` leaves its target in the log: one more sync after the restart).
 */
import type { OwedSyncLog } from "../storage/owed-syncs.js";

/** Wait after a failure before the first sync: the write is durable here by then, and failures that come in bursts share one sync. */
const RESYNC_DELAY_MS = 200;
/** Wait before trying a failed sync again. */
const RESYNC_RETRY_MS = 1000;
/** Syncs in flight at most. */
const RESYNC_CONCURRENCY = 4;

export interface ResyncDeps {
  /** The current cluster key, or null while there is none (or its ownership is not known yet). */
  clusterKey(): string | null;
  /**
   * Whether a sync of `pid` to `to` makes sense now: "yes"; "target-gone" when `to` is no write
   * target of it any more; "nothing-held" when this node holds nothing of it.
   */
  check(ns: string, pid: number, to: string): "yes" | "target-gone" | "nothing-held";
  /** Streams `pid` of `ns` from here to `to` (delta), bound to cluster `ck`; resolves when `to` has it. */
  sync(ns: string, pid: number, to: string, ck: string): Promise<void>;
  /** Nothing is owed on `pid` of `ns` any more (its drop, if held back, may go). */
  settled(ns: string, pid: number): void;
}

interface Entry {
  readonly ns: string;
  readonly pid: number;
  /** Target → count of failures noted so far (a sync clears a target only if none came since it started). */
  readonly targets: Map<string, number>;
}

export class Resyncer {
  done = 0;
  failed = 0;
  private readonly entries = new Map<string, Entry>();
  private readonly running = new Set<string>();
  private timer: NodeJS.Timeout | undefined = undefined;
  private closed = false;
  /** Where entries are kept across restarts; none until `restore` (memory only). */
  private log: OwedSyncLog | null = null;

  constructor(private readonly deps: ResyncDeps) {}

  /**
   * At start, before the first cluster: takes the entries `log` kept from the previous process
   * and keeps every change in it from now on. Restored entries wait for the first cluster (they
   * are listed by `diverged` there, and hold their copies' drops back) like any other.
   */
  restore(log: OwedSyncLog): void {
    this.log = log;
    for (const { ns, pid, target } of log.load()) this.add(ns, pid, target, false);
  }

  /** Copies owed a resync. */
  get pending(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.targets.size;
    return n;
  }

  /** A replica write of `pid` to `target` failed after the write was stored here. */
  noteFailed(ns: string, pid: number, target: string): void {
    if (this.closed) return;
    this.add(ns, pid, target, true);
    this.wake(RESYNC_DELAY_MS);
  }

  private add(ns: string, pid: number, target: string, write: boolean): void {
    const key = `${ns}/${pid}`;
    let e = this.entries.get(key);
    if (!e) this.entries.set(key, (e = { ns, pid, targets: new Map() }));
    const failures = e.targets.get(target) ?? 0;
    e.targets.set(target, failures + 1);
    if (failures === 0 && write) this.log?.add({ ns, pid, target });
  }

  /** `to` is no longer owed a sync of entry `key` (all of its targets if `to` is undefined). */
  private forget(key: string, e: Entry, to?: string): void {
    for (const t of to === undefined ? [...e.targets.keys()] : [to]) {
      e.targets.delete(t);
      if (!this.closed) this.log?.remove({ ns: e.ns, pid: e.pid, target: t });
    }
    if (e.targets.size > 0) return;
    this.entries.delete(key);
    this.deps.settled(e.ns, e.pid);
  }

  /** The partitions still owed a resync, by namespace (marked diverged at a cluster change). */
  diverged(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const e of this.entries.values()) {
      const pids = out.get(e.ns);
      if (pids) pids.push(e.pid);
      else out.set(e.ns, [e.pid]);
    }
    return out;
  }

  /** Whether some copy of `pid` is still owed a sync from this node's copy (which must stay). */
  owes(ns: string, pid: number): boolean {
    return this.entries.has(`${ns}/${pid}`);
  }

  /** A cluster was installed: owed syncs are tried again in it. */
  clusterChanged(): void {
    if (this.entries.size > 0) this.wake(RESYNC_DELAY_MS);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private wake(delayMs: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run();
    }, delayMs);
    this.timer.unref();
  }

  private run(): void {
    const ck = this.deps.clusterKey();
    if (ck === null) return this.wake(RESYNC_RETRY_MS);
    for (const [key, e] of this.entries) {
      for (const [to, failures] of e.targets) {
        const id = `${key}>${to}`;
        if (this.running.has(id)) continue;
        const check = this.deps.check(e.ns, e.pid, to);
        if (check === "nothing-held") {
          this.forget(key, e);
          break;
        }
        if (check === "target-gone") {
          this.forget(key, e, to);
          continue;
        }
        if (this.running.size >= RESYNC_CONCURRENCY) return; // the next one starts when one ends
        this.running.add(id);
        this.deps.sync(e.ns, e.pid, to, ck).then(
          () => {
            this.done++;
            // Cleared only if no failure came since this sync started (the sync ran in one
            // cluster: a chunk for another cluster is refused).
            if (this.entries.get(key) === e && e.targets.get(to) === failures) this.forget(key, e, to);
          },
          () => {
            this.failed++;
          },
        ).finally(() => {
          this.running.delete(id);
          if (this.entries.size > 0) this.wake(this.entries.has(key) && this.entries.get(key)!.targets.has(to) ? RESYNC_RETRY_MS : 0);
        });
      }
    }
  }
}
