/**
 * JIT warm-up of the cluster computations: the partition map, the ownership and the migration
 * plan run once per cluster change, so V8 meets them cold, interpreted. In a fresh process the
 * first maps, ownership and plan of a 3 → 4 join took 104–168, 18–34 and 8–12 ms on this 2-core
 * box; after two or three rounds on other node ids, 15–50, 1.1–2.4 and 0.6–2.2 ms
 * (docs/architecture.md, "The pause at a cluster change"). A joining node computes them right
 * when the moves start streaming into it and its peers' replica writes wait on its event loop,
 * so it runs them here first, at boot, on a synthetic join, before it is ready. Pure
 * computations on made-up ids: nothing is kept, sent or installed.
 */
import { computePartitionMap } from "../core/partition-map.js";
import { computeOwnership, Holdings, partitionBitmapOf } from "../core/partition-ownership.js";
import { planMigrations } from "../core/migration-plan.js";
import { PARTITION_COUNT } from "../../client/protocol/constants.js";

/** Rounds: a third one gained little in the measurement above. */
const ROUNDS = 2;

/** Runs ROUNDS synthetic joins of a node to a cluster of three; returns the ms it took. */
export function warmUpClusterCode(replicationFactor: number): number {
  const started = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    const ids = [0, 1, 2, 3].map((i) => `FFFFFFFFFFFFFF${round}${i}`);
    const before = computePartitionMap(ids.slice(0, 3), replicationFactor);
    const after = computePartitionMap(ids, replicationFactor);
    const holdings = new Map<string, Holdings>();
    for (const id of ids) {
      const pids: number[] = [];
      if (id !== ids[3]) for (let pid = 0; pid < PARTITION_COUNT; pid++) if (before.succession(pid).includes(id)) pids.push(pid);
      holdings.set(id, { node: id, lastClusterKey: "1", full: partitionBitmapOf(pids) });
    }
    const own = computeOwnership(after, holdings);
    for (const id of ids) planMigrations(own, after, holdings, id);
  }
  return performance.now() - started;
}
