/**
 * Goal: the Client connects and tends like the official client (§8.2, §12): validation, peers,
 * partitions, re-tend on change, node removal, seeds that are down; commands carry the right
 * header bits end to end, map result codes to typed errors, and retry on the next replica.
 * Method: one or two scripted fake nodes on 127.0.0.1:0 (client-fake-node.ts) with a fast tend
 * interval; assertions on what each node received. Waits poll with a deadline, never sleep blindly.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Info1, Info2, Info3 } from "../../client/protocol/index.js";
import {
  Client, ClientConfig, ClientError, ConnectionError, GenerationError, Key, ParameterError, RecordExistsError,
  RecordNotFoundError, TimeoutError, op,
} from "../../client/index.js";
import { FakeNode, replicasValue, reply } from "./client-fake-node.js";

const fakes: FakeNode[] = [];
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(fakes.splice(0).map((n) => n.close()));
});

async function fake(opts: Parameters<typeof FakeNode.start>[0] = {}): Promise<FakeNode> {
  const n = await FakeNode.start(opts);
  fakes.push(n);
  return n;
}
async function client(config: ClientConfig): Promise<Client> {
  const c = new Client({ tendIntervalMs: 20, ...config });
  clients.push(c);
  return c.connect();
}
async function waitFor(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const key = (k: string | number = "k1") => new Key("test", "demo", k);
const last = (n: FakeNode) => n.requests[n.requests.length - 1]!;

describe("connect and tend (one node)", () => {
  it("validates, reads peers and partitions in the official order, then tends", async () => {
    const n = await fake();
    const c = await client({ hosts: n.address });
    expect(n.infoRequests[0]).toEqual(["node", "partition-generation", "build"]);
    expect(n.infoRequests[1]).toEqual(["node", "peers-generation", "partition-generation"]);
    expect(n.infoRequests[2]).toEqual(["peers-clear-std"]);
    expect(n.infoRequests[3]).toEqual(["partition-generation", "replicas"]);
    expect(c.nodes()).toEqual([{ name: "BB9000000000001", address: { host: "127.0.0.1", port: n.port } }]);
    expect(c.health()).toEqual({ nodes: 1, namespaces: { test: { partitionsWithoutMaster: 0 } } });
    const tends = () => n.infoCount(["node", "peers-generation", "partition-generation"]);
    const before = tends();
    await waitFor("two more tends", () => tends() >= before + 2);
    // Unchanged generations: nothing refetched.
    expect(n.infoCount(["partition-generation", "replicas"])).toBe(1);
    expect(n.infoCount(["peers-clear-std"])).toBe(1);
  });

  it("refetches replicas when partition-generation changes, and peers when peers-generation does", async () => {
    const n = await fake();
    const c = await client({ hosts: n.address });
    const updates: unknown[] = [];
    c.on("partitionsUpdated", (e) => updates.push(e));
    n.info.set("replicas", replicasValue("test", 1, []));
    n.info.set("partition-generation", "2");
    await waitFor("replicas refetch", () => n.infoCount(["partition-generation", "replicas"]) === 2);
    await waitFor("health update", () => c.health().namespaces.test?.partitionsWithoutMaster === 4096);
    expect(updates).toContainEqual({ name: n.name, generation: 2 });
    n.info.set("peers-generation", "2");
    n.info.set("peers-clear-std", "2,,[]");
    await waitFor("peers refetch", () => n.infoCount(["peers-clear-std"]) === 2);
  });

  it("a seed that is down does not prevent connecting through another", async () => {
    const down = await fake();
    const downAddress = down.address;
    await down.close();
    fakes.splice(fakes.indexOf(down), 1);
    const up = await fake();
    const c = await client({ hosts: `${downAddress},${up.address}`, connectTimeoutMs: 300 });
    expect(c.nodes().map((x) => x.name)).toEqual([up.name]);
  });

  it("a silent seed (accepts, never answers) costs at most connectTimeoutMs", async () => {
    const silent = net.createServer((s) => s.on("error", () => undefined));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const up = await fake({ name: "BB9000000000002" });
      const t0 = Date.now();
      const c = await client({ hosts: [{ host: "127.0.0.1", port }, { host: up.host, port: up.port }], connectTimeoutMs: 300 });
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(c.nodes().map((x) => x.name)).toEqual(["BB9000000000002"]);
    } finally {
      silent.close();
    }
  });

  it("a seed whose info answers are errors is rejected", async () => {
    const bad = await fake();
    bad.info.clear(); // every value is "ERROR:4:unrecognized command"
    const c = new Client({ hosts: bad.address, connectTimeoutMs: 300 });
    await expect(c.connect()).rejects.toThrow(/ERROR:4/);
  });

  it("no usable seed: connect rejects with ConnectionError naming the seeds and the reasons", async () => {
    const notReady = await fake({ partitionGeneration: -1 });
    const c = new Client({ hosts: notReady.address, connectTimeoutMs: 300 });
    await expect(c.connect()).rejects.toSatisfy((e: unknown) =>
      e instanceof ConnectionError && /not ready/.test(e.message) && e.message.includes(notReady.address));
    expect(c.status).toBe("closed");
  });

  it("info() and lifecycle errors", async () => {
    const n = await fake();
    const c = new Client({ hosts: n.address });
    clients.push(c);
    await expect(c.get(key())).rejects.toBeInstanceOf(ClientError);
    await c.connect();
    expect(await c.info("build")).toBe("8.0.0.0");
    expect(await c.info("node", n.name)).toBe(n.name);
    expect(await c.info("node", n.address)).toBe(n.name);
    await expect(c.info("nonsense")).rejects.toMatchObject({ code: 4 });
    await c.close();
    await c.close();
    await expect(c.get(key())).rejects.toThrow(/client is closed/);
  });
});

describe("commands end to end (one node)", () => {
  it("put/get/exists/remove with the captured header bits", async () => {
    const n = await fake();
    const c = await client({ hosts: n.address });
    const k = key();
    expect(await c.put(k, { a: 1, s: "x" })).toBe(k);
    expect([last(n).info1, last(n).info2, last(n).info3, last(n).transactionTtl]).toEqual([0, Info2.WRITE, 0, 1000]);
    const rec = await c.get(k);
    expect(last(n).info1).toBe(Info1.READ | Info1.GET_ALL);
    expect(rec).toMatchObject({ bins: { a: 1, s: "x" }, generation: 1, ttl: -1 });
    expect(rec.key).toBe(k);
    expect((await c.get(k, ["s"])).bins).toEqual({ s: "x" });
    expect(last(n).info1).toBe(Info1.READ);
    expect(await c.exists(k)).toBe(true);
    expect(last(n).info1).toBe(Info1.READ | Info1.NOBINDATA);
    await c.remove(k);
    expect(last(n).info2).toBe(Info2.WRITE | Info2.DELETE);
    expect(await c.exists(k)).toBe(false);
    await expect(c.get(k)).rejects.toBeInstanceOf(RecordNotFoundError);
    await expect(c.remove(k)).rejects.toMatchObject({ name: "RecordNotFoundError", code: 2, inDoubt: false });
  });

  it("write policies reach the wire and server answers become typed errors", async () => {
    const n = await fake();
    const c = await client({ hosts: n.address });
    const k = key("policies");
    await c.put(k, { a: 1 }, { ttl: 60 }, { exists: "createOnly", sendKey: true });
    expect(last(n).info2).toBe(Info2.WRITE | Info2.CREATE_ONLY);
    expect(last(n).recordTtl).toBe(60);
    expect(last(n).fields.map((f) => f.type)).toEqual([0, 1, 4, 2]);
    await expect(c.put(k, { a: 2 }, undefined, { exists: "createOnly" })).rejects.toBeInstanceOf(RecordExistsError);
    await c.put(k, { b: 2 }, undefined, { exists: "replace" });
    expect(last(n).info3).toBe(Info3.CREATE_OR_REPLACE);
    await expect(c.put(key("missing"), { a: 1 }, undefined, { exists: "updateOnly" })).rejects.toBeInstanceOf(RecordNotFoundError);
    expect(last(n).info3).toBe(Info3.UPDATE_ONLY);
    await expect(c.put(k, { a: 3 }, { gen: 99 }, { generationPolicy: "eq" })).rejects.toBeInstanceOf(GenerationError);
    expect([last(n).info2, last(n).generation]).toEqual([Info2.WRITE | Info2.GENERATION, 99]);
    const rec = await c.get(k);
    expect(rec.bins).toEqual({ b: 2 });
    expect(rec.ttl).toBe(-1); // namespace default in the fake: never expires
    await c.touch(k, 120);
    expect(last(n).recordTtl).toBe(120);
    expect((await c.get(k)).ttl).toBeGreaterThanOrEqual(119);
    await expect(c.put(k, { ["x".repeat(16)]: 1 })).rejects.toBeInstanceOf(ParameterError);
    await expect(c.get({ ns: "test" } as never)).rejects.toBeInstanceOf(ParameterError);
  });

  it("operate folds results by bin name, last wins", async () => {
    const n = await fake();
    const c = await client({ hosts: n.address });
    const k = key("op");
    await c.put(k, { n: 1, s: "b" });
    const rec = await c.operate(k, [op.add("n", 5), op.read("n"), op.append("s", "c"), op.prepend("s", "a"), op.read("s")]);
    expect(rec.bins).toEqual({ n: 6, s: "abc" });
    expect([last(n).info1, last(n).info2]).toEqual([Info1.READ, Info2.WRITE]);
    const all = await c.operate(k, [op.write("n", 7), op.read("n")], { respondAllOps: true });
    expect(last(n).info2).toBe(Info2.WRITE | Info2.RESPOND_ALL_OPS);
    expect(all.bins).toEqual({ n: 7 }); // the write's empty entry is overwritten by the read
    const header = await c.operate(k, [op.readHeader()]);
    expect(last(n).info1).toBe(Info1.READ | Info1.NOBINDATA);
    expect(header.bins).toEqual({});
    expect(header.generation).toBe(3);
  });

  it("pipelines concurrent commands on few connections", async () => {
    const n = await fake();
    const c = await client({ hosts: n.address });
    await Promise.all(Array.from({ length: 200 }, (_, i) => c.put(key(i), { i })));
    const got = await Promise.all(Array.from({ length: 200 }, (_, i) => c.get(key(i))));
    expect(got.map((r) => r.bins.i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // 200 in flight at 16 per connection: at most 8 data connections plus the info connection.
    expect(n.accepted).toBeLessThanOrEqual(9);
  });

  it("a client timeout on a write is in doubt; the policy bounds the wait", async () => {
    const n = await fake({ handler: () => ({ hang: true }) });
    const c = await client({ hosts: n.address });
    const t0 = Date.now();
    await expect(c.put(key(), { a: 1 }, undefined, { totalTimeoutMs: 80 })).rejects.toMatchObject({ name: "TimeoutError", inDoubt: true });
    expect(Date.now() - t0).toBeLessThan(1000);
    await expect(c.get(key(), undefined, { totalTimeoutMs: 80, maxRetries: 2 })).rejects.toMatchObject({ name: "TimeoutError", inDoubt: false });
  });
});

describe("two nodes", () => {
  async function pair(aHandler?: FakeNode["handler"], bHandler?: FakeNode["handler"]) {
    const b = await fake({ name: "B2", replicas: replicasValue("test", 2, [1]), ...(bHandler ? { handler: bHandler } : {}) });
    const a = await fake({
      name: "A1",
      replicas: replicasValue("test", 2, [0]),
      peers: `1,,[[B2,,[127.0.0.1:${b.port}]]]`,
      ...(aHandler ? { handler: aHandler } : {}),
    });
    b.info.set("peers-clear-std", `1,,[[A1,,[127.0.0.1:${a.port}]]]`);
    return { a, b };
  }

  it("learns the second node from the seed's peers and routes masters and replicas", async () => {
    const { a, b } = await pair();
    const added: string[] = [];
    const c = new Client({ hosts: a.address, tendIntervalMs: 20 });
    clients.push(c);
    c.on("nodeAdded", (e: { name: string }) => added.push(e.name));
    await c.connect();
    expect(c.nodes().map((x) => x.name).sort()).toEqual(["A1", "B2"]);
    expect(added.sort()).toEqual(["A1", "B2"]);
    await waitFor("both partition maps", () => b.infoCount(["partition-generation", "replicas"]) >= 1);
    await c.put(key(), { a: 1 });
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(0);
    await expect(c.get(key(), undefined, { replica: "master" })).resolves.toMatchObject({ bins: { a: 1 } });
    expect(a.requests).toHaveLength(2);
  });

  it("a read that times out on the master is retried on the replica", async () => {
    const { a, b } = await pair(() => ({ hang: true }), () => reply(0, { generation: 5, voidTime: 0 }));
    const c = await client({ hosts: a.address });
    await waitFor("replica map", () => c.health().namespaces.test !== undefined && b.infoCount(["partition-generation", "replicas"]) >= 1);
    const rec = await c.get(key(), undefined, { socketTimeoutMs: 50, totalTimeoutMs: 2000 });
    expect(rec.generation).toBe(5);
    expect([a.requests.length, b.requests.length]).toEqual([1, 1]);
  });

  it("a read whose master drops the connection goes to the replica; 11 and 18 retry too", async () => {
    let answers = [{ close: true } as const, reply(11), reply(18)];
    const { a, b } = await pair(() => answers.shift() ?? reply(2), () => reply(0, { generation: 9, voidTime: 0 }));
    const c = await client({ hosts: a.address });
    await waitFor("replica map", () => b.infoCount(["partition-generation", "replicas"]) >= 1);
    for (let i = 0; i < 3; i++) expect((await c.get(key())).generation).toBe(9);
    expect([a.requests.length, b.requests.length]).toEqual([3, 3]);
    answers = [];
    await expect(c.get(key(), undefined, { replica: "master" })).rejects.toBeInstanceOf(RecordNotFoundError);
  });

  it("writes are not retried by default; in doubt when the connection drops after sending", async () => {
    const { a, b } = await pair(() => ({ close: true }));
    const c = await client({ hosts: a.address });
    await expect(c.put(key(), { a: 1 })).rejects.toMatchObject({ name: "ConnectionError", inDoubt: true });
    expect(b.requests).toHaveLength(0);
    // With retries, the write goes on to the next replica (which proxies in a real cluster).
    await waitFor("replica map", () => b.infoCount(["partition-generation", "replicas"]) >= 1);
    await expect(c.put(key(), { a: 1 }, undefined, { maxRetries: 1 })).resolves.toBeInstanceOf(Key);
    expect(b.requests).toHaveLength(1);
  });

  it("a master that stays silent exhausts the retries with a TimeoutError", async () => {
    const { a } = await pair(() => ({ hang: true }));
    const c = await client({ hosts: a.address });
    await expect(c.get(key(), undefined, { replica: "master", socketTimeoutMs: 30, totalTimeoutMs: 1000, maxRetries: 2 }))
      .rejects.toSatisfy((e: unknown) => e instanceof TimeoutError && /after 3 attempts/.test(e.message));
    expect(a.requests).toHaveLength(3);
  });

  it("a listed peer that is down at first is added once it comes up", async () => {
    const early = await fake({ name: "B2" });
    const port = early.port;
    await early.close();
    fakes.splice(fakes.indexOf(early), 1);
    const a = await fake({ name: "A1", replicas: replicasValue("test", 2, [0]), peers: `1,,[[B2,,[127.0.0.1:${port}]]]` });
    const c = await client({ hosts: a.address, connectTimeoutMs: 300 });
    expect(c.nodes().map((x) => x.name)).toEqual(["A1"]);
    await fake({ name: "B2", port, replicas: replicasValue("test", 2, [1]), peers: `1,,[[A1,,[127.0.0.1:${a.port}]]]` });
    await waitFor("B2 added", () => c.nodes().length === 2);
    expect(a.infoCount(["peers-clear-std"])).toBeGreaterThan(1); // asked again without a generation change
  });

  it("drops a node that vanishes and is no longer listed by its peer", async () => {
    const { a, b } = await pair();
    const c = await client({ hosts: a.address });
    const removed: string[] = [];
    c.on("nodeRemoved", (e: { name: string }) => removed.push(e.name));
    expect(c.nodes()).toHaveLength(2);
    await b.close();
    fakes.splice(fakes.indexOf(b), 1);
    a.info.set("peers-generation", "2");
    a.info.set("peers-clear-std", "2,,[]");
    a.info.set("replicas", replicasValue("test", 1, [0]));
    a.info.set("partition-generation", "2");
    await waitFor("B removed", () => c.nodes().length === 1);
    expect(removed).toEqual(["B2"]);
    expect(c.nodes()[0]!.name).toBe("A1");
    await waitFor("table without B", () => c.health().namespaces.test?.partitionsWithoutMaster === 0);
    await expect(c.put(key(), { a: 1 })).resolves.toBeInstanceOf(Key);
  });
});
