/**
 * A namespace as the service sees it: its name, its store and the settings the record rules
 * need. Built once by the node from the validated config.
 */
import type { RecordStore } from "../storage/record-store.js";
import type { RecordRulesConfig } from "../core/record-rules.js";

export interface Namespace extends RecordRulesConfig {
  readonly name: string;
  readonly store: RecordStore;
  readonly replicationFactor: number;
  readonly storageKind: "lmdb" | "memory";
  /** Expiry sweep period, ms; 0 = never. */
  readonly nsupPeriodMs: number;
  /** Tombstones older than this are reclaimed from settled partitions, ms. */
  readonly tombstoneReclaimAgeMs: number;
}
