/**
 * Goal: three nodes started with one seed form one cluster by themselves; our client and the
 * official client learn all three from a single seed and send each request straight to the
 * owner (0 proxies once tended); every record lives on exactly replication-factor nodes, the
 * ones the partition map names.
 *
 * Method: real processes on 127.0.0.1 (port 0, temp dirs, LMDB); node 2 and 3 get only node 1's
 * heartbeat port as seed. Proxy counts come from each node's `statistics`. At the end the nodes
 * are stopped and their LMDB files opened directly to check where every record is.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, Key } from "../../client/index.js";
import { computePartitionId } from "./cluster-helpers.js";
import { computePartitionMap } from "../../server/core/partition-map.js";
import { LmdbEnvironment } from "../../server/storage/lmdb-store.js";
import { Aerospike, officialClient } from "../compat/aerospike.js";
import { cleanup, NodeProcess, startCluster, statistics, waitFor, waitForSettled } from "./harness.js";

const RECORDS = 10_000;
let nodes: NodeProcess[];
let formedMs = 0;

beforeAll(async () => {
  const t0 = Date.now();
  nodes = await startCluster(3);
  formedMs = Date.now() - t0;
  await waitForSettled(nodes);
  console.log(`cold start: 3 processes spawned to one cluster of 3 in ${formedMs} ms, settled after ${Date.now() - t0} ms`);
}, 60_000);

afterAll(async () => {
  await Promise.all((nodes ?? []).map((n) => n.stop()));
  cleanup();
});

async function proxies(): Promise<number> {
  const stats = await Promise.all(nodes.map((n) => statistics(n.servicePort)));
  return stats.reduce((sum, s) => sum + (s.proxies ?? 0), 0);
}

describe("a 3-node cluster", () => {
  it("our client learns every node from one seed and routes directly", async () => {
    const client = await new Client({ hosts: `127.0.0.1:${nodes[0]!.servicePort}` }).connect();
    try {
      await waitFor(() => client.nodes().length === 3 && client.health().namespaces.test?.partitionsWithoutMaster === 0, 10_000, "client to see 3 nodes");
      await new Promise((r) => setTimeout(r, 1200)); // one more tend: the client has the settled map
      expect(client.nodes().map((n) => n.name).sort()).toEqual(nodes.map((n) => n.nodeId).sort());
      const before = await proxies();
      for (let start = 0; start < RECORDS; start += 500) {
        await Promise.all(Array.from({ length: 500 }, (_, j) => client.put(new Key("test", "c", start + j), { v: start + j })));
      }
      const got = await Promise.all(Array.from({ length: 2000 }, (_, i) => client.get(new Key("test", "c", i * 5))));
      expect(got.map((r) => r.bins.v)).toEqual(Array.from({ length: 2000 }, (_, i) => i * 5));
      expect(await proxies()).toBe(before);
    } finally {
      await client.close();
    }
  });

  it("the official client sees 3 nodes and routes directly", async () => {
    const client = await officialClient(nodes[1]!.servicePort);
    try {
      await waitFor(() => client.getNodes().length === 3, 10_000, "official client to see 3 nodes");
      await new Promise((r) => setTimeout(r, 1200));
      const before = await proxies();
      for (let start = 0; start < 2000; start += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => client.put(new Aerospike.Key("test", "c", start + j), { v: start + j, o: 1 })));
      }
      for (let i = 0; i < 2000; i += 7) expect((await client.get(new Aerospike.Key("test", "c", i))).bins).toEqual({ v: i, o: 1 });
      expect(await proxies()).toBe(before);
    } finally {
      await client.close();
    }
  });

  it("a stale map costs a hop, never an error: a request sent to the wrong node is proxied", async () => {
    const { rawRequestTo } = await import("./cluster-helpers.js");
    const before = await proxies();
    // Send every key to node 0 directly, whoever owns it.
    for (let i = 0; i < 50; i++) {
      const result = await rawRequestTo(nodes[0]!.servicePort, "test", "c", i);
      expect(result.resultCode).toBe(0);
      expect(result.bins.v).toBe(i);
    }
    expect(await proxies()).toBeGreaterThan(before);
  });

  it("every record is on exactly replication-factor nodes, the ones the map names", async () => {
    const ids = nodes.map((n) => n.nodeId);
    const dirs = nodes.map((n) => n.dataDir);
    const counts = await Promise.all(nodes.map((n) => statistics(n.servicePort)));
    expect(counts.reduce((s, c) => s + c.objects!, 0)).toBe(2 * RECORDS);
    await Promise.all(nodes.map((n) => n.stop()));
    const map = computePartitionMap(ids, 2);
    const holders = new Map<string, string[]>();
    for (let i = 0; i < ids.length; i++) {
      const env = LmdbEnvironment.open({ path: path.join(dirs[i]!, "records.mdb") });
      const store = env.store("test");
      for (let pid = 0; pid < 4096; pid++) {
        for (const { digest } of store.partitionEntries(pid)) {
          const k = digest.toString("hex");
          holders.set(k, [...(holders.get(k) ?? []), ids[i]!]);
        }
      }
      await env.close();
    }
    expect(holders.size).toBe(RECORDS);
    for (const [hex, on] of holders) {
      const pid = computePartitionId(Buffer.from(hex, "hex"));
      expect(on.sort()).toEqual([...map.succession(pid)].sort());
    }
  });
});
