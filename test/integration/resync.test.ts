/**
 * Goal: a write whose replica write failed is carried to the copy that missed it by a resync
 * (server/cluster/resync.ts), within the same cluster, end to end between real processes: the
 * master notes the failure, syncs the partition to the replica without changing anyone's
 * holdings, and the two copies end up identical.
 *
 * Method: 2 real nodes (RF 2: both hold everything), heartbeats tolerant enough (200 missed) that
 * pausing one node with SIGSTOP for longer than the fabric's request timeout (5 s) changes no
 * membership. While B is paused, writes whose master is A are not acknowledged, and their replica
 * writes to B time out at A (counted as failed). B resumes; A's resync counters must show the syncs done and none
 * pending, the cluster key must be unchanged (the same-cluster path), and after stopping both
 * nodes their LMDB copies must agree record for record with what A acknowledged or stored.
 * (A paused node also applies the replica writes queued on its socket once it resumes, so equal
 * copies alone would not tell the resync ran: the counters and the unchanged cluster do.)
 *
 * Then, on the same data dirs, a restart resumes an owed sync (server/storage/owed-syncs.ts): with
 * both nodes stopped, A's disk gets a newer version of one record and the entry "A owes B a sync
 * of its partition", as if A had died before that sync completed. Both nodes start again; A,
 * which has no replica write failure in this life, must run the sync it reloaded (counters) and
 * clear the entry, and the copies agree on the newer version.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, Key } from "../../client/index.js";
import { computePartitionMap } from "../../server/core/partition-map.js";
import { LmdbEnvironment } from "../../server/storage/lmdb-store.js";
import { LmdbOwedSyncs, OWED_SYNCS_DB } from "../../server/storage/owed-syncs.js";
import {
  info, NodeProcess, startClusterWithClient, startNode, statistics, stopClusterWithClient, waitFor, waitForClusterSize, waitForSettled,
} from "./harness.js";

const config = { heartbeatMissedMax: 200 };
const SET = "rs";

let nodes: NodeProcess[];
let client: Client;
/** The first test's nodes, stopped, for the restart test: id, data dir, and a key A mastered. */
let stopped: { ids: string[]; dirs: string[]; key: Key } | undefined;

beforeAll(async () => {
  ({ nodes, client } = await startClusterWithClient(2, { config }));
}, 60_000);

afterAll(() => stopClusterWithClient(nodes, client));

async function clusterKey(n: NodeProcess): Promise<string> {
  return (await info(n.servicePort, ["cluster-key"])).get("cluster-key")!;
}

describe("resync of a copy that missed a write", () => {
  it("syncs the partition from the master to the replica in the same cluster; copies agree", async () => {
    const [a, b] = nodes as [NodeProcess, NodeProcess];
    await waitForSettled(nodes);
    const map = computePartitionMap(nodes.map((n) => n.nodeId), 2);
    const mastered = Array.from({ length: 400 }, (_, i) => i).filter((i) => map.succession(new Key("test", SET, i).partitionId)[0] === a.nodeId).slice(0, 20);
    for (const i of mastered) await client.put(new Key("test", SET, i), { v: i });
    const keyBefore = await clusterKey(a);

    process.kill(b.child.pid!, "SIGSTOP");
    let outcomes: string[];
    try {
      outcomes = await Promise.all(mastered.map((i) => client.put(new Key("test", SET, i), { v: i + 1000 }, undefined, { maxRetries: 0 })
        .then(() => "ok", (err: Error) => err.message)));
      // B stays paused until A's replica writes to it have timed out (the fabric's 5 s), so they
      // count as failed, not merely late.
      await waitFor(async () => (await statistics(a.servicePort)).replica_write_failures! >= mastered.length, 20_000, "A's replica writes to time out");
    } finally {
      process.kill(b.child.pid!, "SIGCONT");
    }
    // None of these was acknowledged: their replica write to B did not complete (in doubt).
    expect(outcomes.filter((o) => o === "ok"), outcomes.join("; ")).toEqual([]);

    const s = await waitFor(async () => {
      const st = await statistics(a.servicePort);
      return st.migrate_resyncs_done! >= 1 && st.migrate_resyncs_pending === 0 ? st : undefined;
    }, 20_000, "A's resyncs to finish") as Record<string, number>;
    expect(s.replica_write_failures).toBe(mastered.length);
    expect(await clusterKey(a)).toBe(keyBefore);
    expect(await clusterKey(b)).toBe(keyBefore);
    await waitForSettled(nodes); // a sync changes no holdings: both copies stay full and claimed

    const ids = nodes.map((n) => n.nodeId);
    const dirs = nodes.map((n) => n.dataDir);
    await Promise.all(nodes.map((n) => n.stop()));
    const copies = await Promise.all(dirs.map((dir) => versionsIn(dir, mastered.map((i) => new Key("test", SET, i)))));
    for (const [j, i] of mastered.entries()) {
      expect(copies[1]![j], `key ${i} on ${ids[1]} vs ${ids[0]}`).toBe(copies[0]![j]);
      expect(copies[0]![j]!.startsWith("2/"), `key ${i}: the in-doubt write stands on the master`).toBe(true);
    }
    stopped = { ids, dirs, key: new Key("test", SET, mastered[0]!) };
  }, 90_000);

  it("a restarted node resumes the sync it owed when it stopped, and clears the entry", async () => {
    expect(stopped, "the previous test leaves its stopped nodes").toBeDefined();
    const { ids, dirs, key } = stopped!;
    const pid = key.partitionId;
    // A's disk: a newer version of `key` that B lacks, and the entry of the sync A owed B for it.
    const env = LmdbEnvironment.open({ path: path.join(dirs[0]!, "records.mdb") });
    try {
      const store = env.store("test");
      const r = store.get(key.digest, Date.now())!;
      await store.put(key.digest, { ...r, generation: r.generation + 1, lastUpdateMs: r.lastUpdateMs + 1 });
      new LmdbOwedSyncs(env.metaDb(OWED_SYNCS_DB), env).add({ ns: "test", pid, target: ids[1]! });
    } finally {
      await env.close();
    }
    const b = await startNode({ dataDir: dirs[1]!, config });
    const a = await startNode({ dataDir: dirs[0]!, config, args: ["--seeds", `127.0.0.1:${b.ready.heartbeatPort}`] });
    nodes = [a, b];
    expect([a.nodeId, b.nodeId]).toEqual(ids);
    await waitForClusterSize(nodes, 2);
    const s = await waitFor(async () => {
      const st = await statistics(a.servicePort);
      return st.migrate_resyncs_done! >= 1 && st.migrate_resyncs_pending === 0 ? st : undefined;
    }, 20_000, "A's reloaded resync to finish") as Record<string, number>;
    expect(s.replica_write_failures).toBe(0); // nothing failed in this life: the sync was reloaded
    await waitForSettled(nodes);
    await Promise.all(nodes.map((n) => n.stop()));
    const [onA, onB] = await Promise.all(dirs.map((dir) => versionsIn(dir, [key])));
    expect(onB).toEqual(onA);
    expect(onA![0]!.startsWith("3/"), "the newer version").toBe(true);
    const after = LmdbEnvironment.open({ path: path.join(dirs[0]!, "records.mdb") });
    try {
      expect(new LmdbOwedSyncs(after.metaDb(OWED_SYNCS_DB), after).load()).toEqual([]);
    } finally {
      await after.close();
    }
  }, 60_000);
});

/** generation/last-update/first bin of each key in a stopped node's LMDB copy ("absent" if none). */
async function versionsIn(dir: string, keys: Key[]): Promise<string[]> {
  const env = LmdbEnvironment.open({ path: path.join(dir, "records.mdb") });
  try {
    const store = env.store("test");
    return keys.map((k) => {
      const r = store.get(k.digest, Date.now());
      return r ? `${r.generation}/${r.lastUpdateMs}/${r.bins[0]?.data.toString("hex")}` : "absent";
    });
  } finally {
    await env.close();
  }
}
