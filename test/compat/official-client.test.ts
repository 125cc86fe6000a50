/**
 * Goal: the official `aerospike` npm client (6.7.1, C client 7.4.0 inside) works against a shoal
 * node unchanged, with the same results and result codes as against an Aerospike server.
 *
 * Method: start a real node process (port 0, temp data dir, LMDB storage), connect the official
 * client, and drive put/get/exists/remove/touch/operate, TTLs, generation and exists policies,
 * every bin type, and info; then restart the node on the same data dir and read back everything
 * that was acknowledged.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, NodeProcess, startNode } from "../integration/harness.js";
import { Aerospike, officialClient } from "./aerospike.js";

const ops = Aerospike.operations;
const ns = "test";
let node: NodeProcess;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let client: any;

beforeAll(async () => {
  node = await startNode();
  client = await officialClient(node.servicePort);
});

afterAll(async () => {
  await client?.close();
  await node?.stop();
  cleanup();
});

const key = (k: string | number, set = "demo") => new Aerospike.Key(ns, set, k);

async function code(p: Promise<unknown>): Promise<number | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return (err as { code: number }).code;
  }
}

describe("official client against one shoal node", () => {
  it("puts and gets every bin type", async () => {
    const bins = {
      i: 42, neg: -7, big: 2 ** 40, d: 1.5, s: "héllo", b: Buffer.from([0, 1, 2, 255]),
      l: [1, "two", 3.5, [4], { five: 5 }], m: { a: 1, b: "x", nested: { c: [1, 2] } }, t: true,
    };
    await client.put(key("types"), bins);
    const rec = await client.get(key("types"));
    expect(rec.bins).toEqual(bins);
    expect(rec.gen).toBe(1);
    expect(rec.ttl).toBe(-1);
  });

  it("selects named bins and reads headers", async () => {
    await client.put(key("sel"), { a: 1, b: 2, c: 3 });
    const rec = await client.select(key("sel"), ["a", "c", "missing"]);
    expect(rec.bins).toEqual({ a: 1, c: 3 });
    expect(await client.exists(key("sel"))).toBe(true);
    expect(await client.exists(key("nope"))).toBe(false);
  });

  it("keys: string, integer, blob, no set", async () => {
    for (const k of [new Aerospike.Key(ns, "s1", "str"), new Aerospike.Key(ns, "s1", 12345), new Aerospike.Key(ns, "s1", Buffer.from("blob")), new Aerospike.Key(ns, null, "noset")]) {
      await client.put(k, { v: String(k.key) });
      expect((await client.get(k)).bins.v).toBe(String(k.key));
    }
  });

  it("remove: found then not found (2)", async () => {
    await client.put(key("rm"), { a: 1 });
    await client.remove(key("rm"));
    expect(await code(client.get(key("rm")))).toBe(Aerospike.status.ERR_RECORD_NOT_FOUND);
    expect(await code(client.remove(key("rm")))).toBe(Aerospike.status.ERR_RECORD_NOT_FOUND);
  });

  it("exists policies: create-only conflict (5), update-only on missing (2), replace drops bins", async () => {
    const k = key("exists");
    await client.put(k, { a: 1, b: 2 });
    expect(await code(client.put(k, { a: 9 }, {}, { exists: Aerospike.policy.exists.CREATE }))).toBe(5);
    expect(await code(client.put(key("exists-missing"), { a: 1 }, {}, { exists: Aerospike.policy.exists.UPDATE }))).toBe(2);
    expect(await code(client.put(key("exists-missing"), { a: 1 }, {}, { exists: Aerospike.policy.exists.REPLACE }))).toBe(2);
    await client.put(k, { c: 3 }, {}, { exists: Aerospike.policy.exists.REPLACE });
    expect((await client.get(k)).bins).toEqual({ c: 3 });
    await client.put(k, { d: 4 }, {}, { exists: Aerospike.policy.exists.CREATE_OR_REPLACE });
    expect((await client.get(k)).bins).toEqual({ d: 4 });
    await client.put(k, { e: 5 }, {}, { exists: Aerospike.policy.exists.UPDATE });
    expect((await client.get(k)).bins).toEqual({ d: 4, e: 5 });
  });

  it("generation: increments, equal-policy conflict (3), equal-policy success", async () => {
    const k = key("gen");
    await client.put(k, { a: 1 });
    await client.put(k, { a: 2 });
    const rec = await client.get(k);
    expect(rec.gen).toBe(2);
    const genEq = { gen: Aerospike.policy.gen.EQ };
    expect(await code(client.put(k, { a: 3 }, { gen: 1 }, genEq))).toBe(Aerospike.status.ERR_RECORD_GENERATION);
    await client.put(k, { a: 3 }, { gen: 2 }, genEq);
    expect((await client.get(k)).gen).toBe(3);
  });

  it("operate: add, append, prepend, read, touch, bin delete, respond-all", async () => {
    const k = key("op");
    await client.put(k, { n: 10, d: 1.25, s: "mid", x: "gone" });
    const r = await client.operate(k, [
      ops.incr("n", 5), ops.incr("d", 0.5), ops.append("s", "-end"), ops.prepend("s", "start-"),
      ops.write("x", null), ops.read("n"), ops.read("d"), ops.read("s"), ops.touch(500),
    ]);
    expect(r.bins).toEqual({ n: 15, d: 1.75, s: "start-mid-end" });
    expect(r.gen).toBe(2);
    expect(r.ttl).toBeGreaterThan(490);
    expect(r.ttl).toBeLessThanOrEqual(500);
    expect((await client.get(k)).bins).toEqual({ n: 15, d: 1.75, s: "start-mid-end" });
    // add to a missing bin creates it; add of a string is a type error (12)
    await client.operate(k, [ops.incr("fresh", 3)]);
    expect((await client.get(k)).bins.fresh).toBe(3);
    expect(await code(client.operate(k, [ops.incr("s", 1)]))).toBe(Aerospike.status.ERR_BIN_INCOMPATIBLE_TYPE);
    // operate on a missing record with update-only
    expect(await code(client.operate(key("op-missing"), [ops.incr("n", 1)], {}, { exists: Aerospike.policy.exists.UPDATE }))).toBe(2);
  });

  it("operate delete removes the record", async () => {
    const k = key("opdel");
    await client.put(k, { a: 1 });
    await client.operate(k, [ops.delete()]);
    expect(await client.exists(k)).toBe(false);
  });

  it("touch: bumps generation, resets TTL; missing record is 2", async () => {
    const k = key("touch");
    await client.put(k, { a: 1 }, { ttl: 100 });
    expect((await client.get(k)).ttl).toBeLessThanOrEqual(100);
    await client.operate(k, [ops.touch(1000)]);
    const rec = await client.get(k);
    expect(rec.gen).toBe(2);
    expect(rec.ttl).toBeGreaterThan(900);
    expect(await code(client.operate(key("touch-missing"), [ops.touch(10)]))).toBe(2);
  });

  it("TTL: a record expires; never-expire is -1", async () => {
    const k = key("ttl");
    await client.put(k, { a: 1 }, { ttl: 1 });
    expect(await client.exists(k)).toBe(true);
    await client.put(key("forever"), { a: 1 }, { ttl: -1 });
    expect((await client.get(key("forever"))).ttl).toBe(-1);
    await new Promise((r) => setTimeout(r, 2100));
    expect(await client.exists(k)).toBe(false);
    expect(await code(client.get(k))).toBe(2);
  });

  it("info: node, build, namespaces, replicas", async () => {
    const info = await client.infoAny("node\nbuild\nnamespaces\nnamespace/test\n");
    expect(info).toContain(`node\t${node.nodeId}`);
    expect(info).toContain("build\t8.0.0.0");
    expect(info).toContain("namespaces\ttest");
    expect(info).toMatch(/replication-factor=2/);
  });

  it("unknown namespace is 20; bin name over 15 bytes is rejected", async () => {
    expect(await code(client.put(new Aerospike.Key("nope", "s", "k"), { a: 1 }))).toBe(20);
    expect(await code(client.put(key("longbin"), { abcdefghijklmnop: 1 }))).not.toBe("ok");
  });

  it("restart: every acknowledged write is read back", async () => {
    const written = new Map<number, number>();
    // The official client allows 100 async connections per node: stay below with 50 in flight.
    for (let start = 0; start < 500; start += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => start + j)
        .map((i) => client.put(key(i, "durable"), { v: i * 3 }).then(() => written.set(i, i * 3))));
    }
    await client.close();
    expect(await node.stop()).toBe(0);
    node = await startNode({ dataDir: node.dataDir });
    client = await officialClient(node.servicePort);
    for (const [i, v] of written) {
      expect((await client.get(key(i, "durable"))).bins.v).toBe(v);
    }
  });

  it("kill -9: acknowledged writes survive a crash", async () => {
    const acked: number[] = [];
    for (let start = 0; start < 300; start += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => start + j)
        .map((i) => client.put(key(i, "crash"), { v: i }).then(() => acked.push(i))));
    }
    await client.close();
    await node.kill9();
    node = await startNode({ dataDir: node.dataDir });
    client = await officialClient(node.servicePort);
    expect(acked.length).toBe(300);
    for (const i of acked) expect((await client.get(key(i, "crash"))).bins.v).toBe(i);
  });
});
