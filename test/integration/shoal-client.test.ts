/**
 * Goal: our TypeScript client against a real shoal node: the single-record API with the result
 * codes a user sees (typed errors), TTL expiry, generation and exists policies, every value type,
 * and compatibility with the official client on the same data (each reads what the other wrote).
 *
 * Method: one node process (port 0, temp dir, LMDB); our Client and the official client side by
 * side; the README quick-start example run as a user would run it.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, Double, GenerationError, Key, op, RecordExistsError, RecordNotFoundError } from "../../client/index.js";
import { KvError } from "../../client/protocol/index.js";
import { Aerospike, officialClient } from "../compat/aerospike.js";
import { cleanup, NodeProcess, startNode } from "./harness.js";

let node: NodeProcess;
let client: Client;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let official: any;

beforeAll(async () => {
  node = await startNode();
  client = await new Client({ hosts: `127.0.0.1:${node.servicePort}` }).connect();
  official = await officialClient(node.servicePort);
});

afterAll(async () => {
  await client?.close();
  await official?.close();
  await node?.stop();
  cleanup();
});

const key = (k: string | number, set = "ours") => new Key("test", set, k);

async function failure(p: Promise<unknown>): Promise<KvError> {
  try {
    await p;
  } catch (err) {
    return err as KvError;
  }
  throw new Error("expected the call to fail");
}

describe("shoal client against one node", () => {
  it("put/get/exists/remove", async () => {
    await client.put(key("a"), { s: "x", n: 1, d: new Double(2), l: [1, "a"], m: { k: "v" }, b: Buffer.from([9]), t: false });
    const rec = await client.get(key("a"));
    expect(rec.bins).toEqual({ s: "x", n: 1, d: 2, l: [1, "a"], m: { k: "v" }, b: Buffer.from([9]), t: false });
    expect(rec.generation).toBe(1);
    expect(rec.ttl).toBe(-1);
    expect(await client.exists(key("a"))).toBe(true);
    expect((await client.get(key("a"), ["n"])).bins).toEqual({ n: 1 });
    await client.remove(key("a"));
    expect(await client.exists(key("a"))).toBe(false);
    const err = await failure(client.get(key("a")));
    expect(err).toBeInstanceOf(RecordNotFoundError);
    expect(err.code).toBe(2);
    expect(await failure(client.remove(key("a")))).toBeInstanceOf(RecordNotFoundError);
  });

  it("create-only conflict and generation conflict are typed errors", async () => {
    await client.put(key("c"), { a: 1 });
    const exists = await failure(client.put(key("c"), { a: 2 }, {}, { exists: "createOnly" }));
    expect(exists).toBeInstanceOf(RecordExistsError);
    expect(exists.code).toBe(5);
    const gen = await failure(client.put(key("c"), { a: 2 }, { gen: 7 }, { generationPolicy: "eq" }));
    expect(gen).toBeInstanceOf(GenerationError);
    expect(gen.code).toBe(3);
    await client.put(key("c"), { a: 2 }, { gen: 1 }, { generationPolicy: "eq" });
    expect((await client.get(key("c"))).generation).toBe(2);
  });

  it("operate and touch", async () => {
    await client.put(key("o"), { n: 1, s: "b" });
    const rec = await client.operate(key("o"), [op.add("n", 41), op.append("s", "c"), op.prepend("s", "a"), op.read("n"), op.read("s")]);
    expect(rec.bins).toEqual({ n: 42, s: "abc" });
    await client.touch(key("o"), 300);
    const after = await client.get(key("o"));
    expect(after.generation).toBe(3);
    expect(after.ttl).toBeGreaterThan(290);
    expect((await failure(client.operate(key("o"), [op.add("s", 1)]))).code).toBe(12);
    await client.operate(key("o"), [op.delete()]);
    expect(await client.exists(key("o"))).toBe(false);
  });

  it("TTL expiry", async () => {
    await client.put(key("ttl"), { a: 1 }, { ttl: 1 });
    expect(await client.exists(key("ttl"))).toBe(true);
    await new Promise((r) => setTimeout(r, 2100));
    expect(await client.exists(key("ttl"))).toBe(false);
  });

  it("reads what the official client wrote, and the reverse", async () => {
    const value = { i: -5, f: 0.25, s: "ünï", l: [1, [2, "x"], { y: 2 }], m: { a: [1, 2], b: "c" }, blob: Buffer.from("zz") };
    await official.put(new Aerospike.Key("test", "mixed", "from-official"), value);
    expect((await client.get(new Key("test", "mixed", "from-official"))).bins).toEqual(value);
    await client.put(new Key("test", "mixed", "from-ours"), value);
    expect((await official.get(new Aerospike.Key("test", "mixed", "from-ours"))).bins).toEqual(value);
    await client.put(new Key("test", "mixed", 77), { n: 1 });
    expect((await official.get(new Aerospike.Key("test", "mixed", 77))).bins).toEqual({ n: 1 });
  });

  it("many concurrent requests over the pool", async () => {
    await Promise.all(Array.from({ length: 2000 }, (_, i) => client.put(key(i, "many"), { v: i })));
    const recs = await Promise.all(Array.from({ length: 2000 }, (_, i) => client.get(key(i, "many"))));
    expect(recs.map((r) => r.bins.v)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });

  it("info and nodes", async () => {
    expect(await client.info("node")).toBe(node.nodeId);
    expect(client.nodes().map((n) => n.name)).toEqual([node.nodeId]);
    expect(client.health().namespaces.test?.partitionsWithoutMaster).toBe(0);
  });

  it("the README quick start runs as written", async () => {
    const readme = fs.readFileSync(path.resolve(__dirname, "../../README.md"), "utf8");
    const code = /```js\n(import \{ Client, Key, op \} from "shoal";[\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    const dir = path.resolve(__dirname, "../..");
    const file = path.join(dir, `.quickstart-${process.pid}.mjs`);
    fs.writeFileSync(file, code!.replace("127.0.0.1:3000", `127.0.0.1:${node.servicePort}`));
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [file], { cwd: dir, timeout: 15_000 });
      expect(stdout).toContain("Ada");
      expect(stdout).toMatch(/^2$/m);
      expect(stdout).toMatch(/^true$/m);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
