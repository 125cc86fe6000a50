/**
 * The disk of a simulated node (rebalance simulator): partition → key → record, surviving crash
 * and restart; only a removal for good discards it. Keys stand for digests: `entries` yields a
 * partition in key order, like an LMDB range read over (partition id ‖ digest).
 *
 *   parts: Map<pid, Map<key, SimRecord>>      a partition with no record has no entry
 *   owed:  Map<pid, Set<target>>              owed resyncs recorded beside the records
 *                                             (server/storage/owed-syncs.ts; ShellModel "resync")
 *
 * Every change calls `touched(key)`, so that the invariant checker re-examines only what changed.
 */
import { emptyPartitionBitmap } from "../../server/core/partition-ownership.js";

export type NodeId = string;

/** A stored record, reduced to what the rules look at plus the simulator's bookkeeping. */
export interface SimRecord {
  readonly generation: number;
  readonly lastUpdateMs: number;
  readonly tombstone: boolean;
  /** The client's value (the write's id); 0 for a tombstone. */
  readonly value: number;
  /** Unique id of this version (one per client write or delete); what the model tracks. */
  readonly version: number;
}

/** A node's disk: survives crash and restart; only the simulator's removal discards it. */
export class Disk {
  readonly parts = new Map<number, Map<string, SimRecord>>();
  /** Owed resyncs kept across restarts (OwedResyncs writes through; owed-syncs.ts). */
  readonly owed = new Map<number, Set<NodeId>>();

  constructor(private readonly touched: (key: string) => void) {}

  get(pid: number, key: string): SimRecord | undefined {
    return this.parts.get(pid)?.get(key);
  }

  put(pid: number, key: string, record: SimRecord): void {
    let part = this.parts.get(pid);
    if (part === undefined) { part = new Map(); this.parts.set(pid, part); }
    part.set(key, record);
    this.touched(key);
  }

  remove(pid: number, key: string): void {
    const part = this.parts.get(pid);
    if (part === undefined || !part.delete(key)) return;
    if (part.size === 0) this.parts.delete(pid);
    this.touched(key);
  }

  hasData(pid: number): boolean {
    return this.parts.has(pid);
  }

  /** Entries of `pid` in key order, like a range read over (pid ‖ digest). */
  entries(pid: number): [string, SimRecord][] {
    const part = this.parts.get(pid);
    return part === undefined ? [] : [...part].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** Partitions with at least one record (rebalancer.ts partitionsOnDisk). */
  onDisk(): Uint8Array {
    const bitmap = emptyPartitionBitmap();
    for (const pid of this.parts.keys()) bitmap[pid >> 3]! |= 0x80 >> (pid & 7);
    return bitmap;
  }
}
