/**
 * The choices the rebalance simulator explores around the pure core:
 *
 *   ShellModel   behaviours of the shell (server/cluster, server/service) that the simulator can
 *                run as the shell did them when the simulator was written (SHELL_AS_IS, "today"
 *                below: the shell before commit 6db3bc5) or as the design says (SHELL_AS_DESIGNED,
 *                the default of rebalance.test.ts). The simulator showed each as-is behaviour to
 *                break an invariant (see rebalance.test.ts for how to replay them). The shell now
 *                does what SHELL_AS_DESIGNED models: a failed replica write is answered TIMEOUT
 *                (in doubt); client requests wait for the ownership after a cluster change (and
 *                before the first one), then UNAVAILABLE; drops announce first and delete only
 *                the versions seen, refusing replica writes and incoming moves meanwhile; a merge
 *                of a copy that is current already does not mark it handed over; a copy that
 *                missed a replica write is resynced, and if the cluster changes first its
 *                master's copy merges too while the resync goes on in the new cluster (resync.ts);
 *                a sync's records make the copy of a node that held nothing of the partition
 *                partial, as a replica write does; owed syncs survive a crash (replicaRepair
 *                "resync"; the server before those fixes is "resync-as-is", then
 *                "resync-forget", then "resync-volatile").
 *   Mutation     a rule broken on purpose, to show that the invariants notice (mutation checks).
 */

/** Behaviours of the shell: as today, or as the design (DESIGN.md "Transactions", "Migrations") says. */
export interface ShellModel {
  /**
   * A replica write that fails at the master: "ack" = transaction.ts today (logged, counted, the
   * client is acknowledged anyway); "in-doubt" = commit level `all` as designed (the client gets
   * an in-doubt error).
   */
  readonly replicaFailure: "ack" | "in-doubt";
  /**
   * Routing between a cluster change and the holdings exchange: "last-ownership" =
   * cluster-state.ts route()/canRead() today (the previous acting master if still a member, else
   * the new map master, which may hold nothing: it then serves reads and takes writes);
   * "unavailable" = answer nothing until ownership is known, and refuse merge chunks meanwhile
   * (the acting master would not know whom to replicate the winners to; the sender retries).
   */
  readonly interim: "last-ownership" | "unavailable";
  /**
   * A node that has not installed a cluster yet (just restarted): "local" = today (node.ts opens
   * the service port before the first install, and route() without a map answers "self": it
   * serves reads from its stale disk and applies writes unreplicated); "unavailable".
   */
  readonly beforeInstall: "local" | "unavailable";
  /**
   * Dropping a copy: "as-is" = rebalancer.ts drop() today: per partition a snapshot of its keys,
   * removed one awaited record at a time, and `dropped` announced at the end, unless the cluster
   * changed meanwhile. The removal goes on across a cluster change while the holdings still claim
   * the copy (full, in line) in the new cluster, and a replica write that lands after its
   * partition's snapshot survives, claimed by nothing. "announce-first" = `dropped` is announced
   * before any record is removed; removal then skips a partition the node holds again (a replica
   * write or a fill re-started it) and repeats until the others are empty.
   */
  readonly drop: "as-is" | "announce-first";
  /**
   * A merge move that finishes: "as-is" = rebalancer.ts start() today: `merge-completed` whenever
   * the cluster is unchanged. A node whose acting master changed may run two merges of one
   * partition (to the old and the new master); if the first one's completion lets the node be
   * filled again, the second one's completion turns that fresh full copy partial, and the fill
   * will not be planned again in this cluster (the sender's `completed` set): the partition stays
   * below its replication factor. "recheck" = no `merge-completed` for a copy that is already
   * current (handed over, or filled again, in this cluster).
   */
  readonly mergeDone: "as-is" | "recheck";
  /**
   * A replica write that failed after the master stored it (client write or merged winner):
   * "none" = forgotten (transaction.ts, rebalancer.ts replicate() before resync.ts): the target's
   * copy stays without the write, yet the core takes both copies for the same line, and nothing
   * ever reconciles them (rebalance-known-bugs.test.ts, seed 1987). "resync" = resync.ts: the
   * master owes (p, target) a sync: while the cluster stays, a stream of p to the target that
   * stores what supersedes its copy and changes no holdings (retried until one completes with
   * no failure since it started); if the cluster changes first, the master's copy is marked
   * `diverged` right after `cluster-entered`, so it merges in the new cluster. The sync's
   * receiver ignores it if it is no write target of p, and takes its records like replica
   * writes: if it holds nothing of p, its copy becomes partial (Rebalancer.noteReplicaData).
   * "resync-as-is" = "resync-forget" below, as rebalancer.ts onChunk first did it (kept as a
   * mutation check): the records are stored without that, outside every holding; nothing drops
   * them (I4: records outside the succession; SIM_REPLICA_LOSS=0.1 SIM_SEED=3).
   * "resync" also keeps the owed syncs across a cluster change (resync.ts today): after the
   * `diverged` mark they go on in the new cluster, once its ownership is known, to targets that
   * are still write targets of p (a target that is not leaves the entry; so does the whole entry
   * if this node holds nothing of p), an entry clears when a sync started after its last failure
   * completes, and the master keeps its copy of p (no drop) while it owes a sync of it.
   * "resync-forget" = resync.ts before that: the owed syncs are forgotten at a cluster change
   * (the `diverged` mark only), and a sync clears its entry only if it completed in the cluster
   * of the failure. The mark repairs the acting master's copy, not a third copy in line that
   * missed the write (rebalance-known-bugs.test.ts, item 3, seed 468).
   * "resync" also keeps the owed syncs across a crash (resync.ts with owed-syncs.ts today): each
   * (p, target) is recorded on the node's disk with the failure that makes it owed (Disk.owed; the
   * server writes it when it notes the failure, see resync.ts "Crash windows"), removed when it
   * leaves, and a restarted process starts with the entries left there (Resyncer.restore), so
   * its copies of them are marked `diverged` at its first cluster and the syncs go on there.
   * "resync-volatile" = "resync" before that: the entries live in the process only and die with
   * it; the restarted node's copy merges into the acting master, but a third copy in line that
   * missed the write is never repaired (rebalance-known-bugs.test.ts, item 5, seed 265).
   */
  readonly replicaRepair: "none" | "resync-as-is" | "resync-forget" | "resync-volatile" | "resync";
}

/** Owed syncs survive a cluster change (resync.ts since fix 3): "resync" and "resync-volatile". */
export function keepsOwedSyncs(shell: ShellModel): boolean {
  return shell.replicaRepair === "resync" || shell.replicaRepair === "resync-volatile";
}

export const SHELL_AS_IS: ShellModel = {
  replicaFailure: "ack", interim: "last-ownership", beforeInstall: "local", drop: "as-is", mergeDone: "as-is",
  replicaRepair: "none",
};
export const SHELL_AS_DESIGNED: ShellModel = {
  replicaFailure: "in-doubt", interim: "unavailable", beforeInstall: "unavailable", drop: "announce-first", mergeDone: "recheck",
  replicaRepair: "resync",
};

/** Rules the simulator can break on purpose, to show the invariants notice (mutation checks). */
export type Mutation =
  | "none"
  /** Merges and fills overwrite whatever the receiver has, ignoring generations. */
  | "merge-ignores-generation"
  /** Drops whatever is not in the succession as soon as ownership is known, complete or not. */
  | "drop-before-complete"
  /** Replica writes skip the last write target (a filling node misses writes). */
  | "skip-filling-target"
  /** A fill is declared complete at its first chunk. */
  | "fill-completes-early"
  /** Deletes remove the record instead of storing a tombstone. */
  | "delete-without-tombstone"
  /**
   * The copies owed a resync are not marked `diverged` at a cluster change (the owed syncs stay,
   * with ShellModel.replicaRepair "resync"; "resync-forget" forgets them as well). Not
   * among the mutation checks: with the owed syncs forgotten, no seed of 1..1000 (nor of several
   * fault mixes with lost replica writes) caught it; the window (a cluster change between a lost
   * replica write and its resync, with no later resync of that partition to that target) is rare
   * in the simulator. Nor is "resync-forget" a mutation check: seeds 1..8 with 10% or 30% of
   * replica writes lost do not catch it (seed 468 with 5% does, rebalance-known-bugs.test.ts).
   */
  | "resync-without-diverged";
