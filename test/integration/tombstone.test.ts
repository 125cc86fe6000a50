/**
 * Goal: durable deletes. A node that was away while records it holds were deleted cannot bring
 * them back when it returns: the delete left a tombstone that replicates and migrates like a
 * record and supersedes the returning node's older copy.
 *
 * Method: 3 real nodes (LMDB). Write 300 keys; stop the node C (gracefully: it keeps its data);
 * delete every key of which C held a copy while it is away; restart C on its data dir; after the
 * cluster settles, every deleted key reads as not found and every other key is intact.
 * Reclaim: with a 500 ms reclaim age, no tombstone is reclaimed while C is away (C may still
 * hold the deleted records); once C is back and the cluster settled, every tombstone is
 * reclaimed on both of its holders, and the deleted keys still read as not found.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, Key } from "../../client/index.js";
import { computePartitionMap } from "../../server/core/partition-map.js";
import {
  NodeProcess, startNode, statistics, waitFor, waitForClusterSize, waitForSettled, startClusterWithClient, stopClusterWithClient,
} from "./harness.js";

const config = { namespaces: { test: { tombstoneReclaimAgeMs: 500 } } };

async function reclaimed(live: NodeProcess[]): Promise<number> {
  let sum = 0;
  for (const n of live) sum += (await statistics(n.servicePort)).tombstones_reclaimed ?? 0;
  return sum;
}

let nodes: NodeProcess[];
let client: Client;

beforeAll(async () => {
  ({ nodes, client } = await startClusterWithClient(3, { config }));
}, 60_000);

afterAll(() => stopClusterWithClient(nodes, client));

describe("durable deletes", () => {
  it("a returning node does not resurrect records deleted while it was away", async () => {
    const KEYS = 300;
    for (let i = 0; i < KEYS; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => client.put(new Key("test", "tomb", i + j), { v: i + j })));
    }
    const away = nodes[2]!;
    const map = computePartitionMap(nodes.map((n) => n.nodeId), 2);
    const held = Array.from({ length: KEYS }, (_, i) => i).filter((i) => map.succession(new Key("test", "tomb", i).partitionId).includes(away.nodeId));
    expect(held.length).toBeGreaterThan(50);

    expect(await away.stop()).toBe(0);
    const survivors = nodes.slice(0, 2);
    await waitForClusterSize(survivors, 2);
    await waitForSettled(survivors);
    await waitFor(() => client.nodes().length === 2, 5000, "the client to drop the stopped node"); // its next tend
    for (const i of held) await client.remove(new Key("test", "tomb", i), { maxRetries: 3 });
    await new Promise((r) => setTimeout(r, 2000)); // 4× the reclaim age, 2 reclaim passes
    expect(await reclaimed(survivors), "tombstones reclaimed while a holder is away").toBe(0);

    const back = await startNode({ dataDir: away.dataDir, config, args: ["--seeds", `127.0.0.1:${nodes[0]!.ready.heartbeatPort}`] });
    nodes[2] = back;
    await waitForClusterSize(nodes, 3);
    await waitForSettled(nodes);
    await new Promise((r) => setTimeout(r, 1200)); // the client tends once more

    const deleted = new Set(held);
    for (let i = 0; i < KEYS; i++) {
      const exists = await client.exists(new Key("test", "tomb", i), { maxRetries: 3 });
      expect(exists, `key ${i}`).toBe(!deleted.has(i));
    }

    // Every holder has the tombstones now: each is reclaimed on both of its copies, and the
    // deleted keys stay deleted.
    await waitFor(async () => (await reclaimed(nodes)) >= 2 * held.length, 15_000, "tombstones reclaimed");
    expect(await reclaimed(nodes)).toBe(2 * held.length);
    for (const i of held) expect(await client.exists(new Key("test", "tomb", i), { maxRetries: 3 }), `key ${i}`).toBe(false);
  }, 90_000);
});
