/**
 * Goal: a Connection pipelines many requests and matches in-order replies, coalesces the frames
 * of one tick into one write, times requests out without losing step with the server, and fails
 * in-flight requests with typed, correctly in-doubt errors; a NodePool spreads requests over a
 * bounded set of connections behind a bounded queue.
 * Method: a scripted fake node on 127.0.0.1:0 (client-fake-node.ts) with per-test handlers
 * (delays, hangs, socket closes, raw bytes). Every wait is bounded by small timeouts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { AsMessage, ProtoType, decodeMessage, emptyMessage, encodeMessage } from "../../client/protocol/index.js";
import { Connection, ConnectionError, NodePool, QueueFullError, TimeoutError } from "../../client/internal.js";
import { FakeNode, rawFrame, reply } from "./client-fake-node.js";

const nodes: FakeNode[] = [];
const conns: Connection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.destroy();
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

async function start(handler?: FakeNode["handler"]): Promise<FakeNode> {
  const n = await FakeNode.start({ ...(handler ? { handler } : {}) });
  nodes.push(n);
  return n;
}
async function connect(n: FakeNode, opts: Partial<Parameters<typeof Connection.connect>[0]> = {}): Promise<Connection> {
  const c = await Connection.connect({ host: n.host, port: n.port, connectTimeoutMs: 1000, ...opts });
  conns.push(c);
  return c;
}
/** A request whose transaction_ttl carries a marker the echo handler returns as generation. */
const marked = (i: number): Buffer => encodeMessage({ ...emptyMessage(), transactionTtl: i });
const echo = (m: AsMessage): AsMessage => ({ ...reply(0, { generation: m.transactionTtl, voidTime: 0 }) });
const gen = async (p: Promise<{ body: Buffer }>): Promise<number> => decodeMessage((await p).body).generation;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Connection", () => {
  it("pipelines 300 concurrent requests and matches replies in order despite uneven server delays", async () => {
    const n = await start(async (m) => {
      if (m.transactionTtl % 7 === 0) await sleep(2);
      return echo(m);
    });
    const c = await connect(n);
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => gen(c.request(marked(i), ProtoType.MSG, false, 5000))));
    expect(results).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(n.accepted).toBe(1);
    expect(c.inFlight).toBe(0);
  });

  it("coalesces the frames written in one tick into one socket write (cork/uncork)", async () => {
    const n = await start(echo);
    const c = await connect(n);
    await Promise.all(Array.from({ length: 64 }, (_, i) => c.request(marked(i), ProtoType.MSG, false, 5000)));
    expect(n.msgChunks.reduce((a, b) => a + b, 0)).toBe(64);
    // One writev per tick: loopback delivers it in one read (a generous bound for odd kernels).
    expect(n.msgChunks.length).toBeLessThanOrEqual(3);
  });

  it("a server that closes mid-request fails every in-flight request; writes are in doubt", async () => {
    let seen = 0;
    const n = await start(() => (++seen === 2 ? { close: true } : { hang: true }));
    const c = await connect(n);
    const read = c.request(marked(1), ProtoType.MSG, false, 5000);
    const write = c.request(marked(2), ProtoType.MSG, true, 5000);
    const [r, w] = await Promise.allSettled([read, write]);
    expect(r.status === "rejected" && r.reason).toBeInstanceOf(ConnectionError);
    expect(w.status === "rejected" && w.reason).toBeInstanceOf(ConnectionError);
    expect((r as PromiseRejectedResult).reason.inDoubt).toBe(false);
    expect((w as PromiseRejectedResult).reason.inDoubt).toBe(true);
    expect((w as PromiseRejectedResult).reason.code).toBe(-10);
    await c.closed;
    expect(c.state).toBe("closed");
    await expect(c.request(marked(3), ProtoType.MSG, false, 100)).rejects.toBeInstanceOf(ConnectionError);
  });

  it("a timed-out request rejects with TimeoutError, and its late reply does not shift the FIFO", async () => {
    const n = await start(async (m) => {
      if (m.transactionTtl === 1) await sleep(150);
      return echo(m);
    });
    const c = await connect(n);
    const slow = c.request(marked(1), ProtoType.MSG, true, 30);
    await expect(slow).rejects.toBeInstanceOf(TimeoutError);
    await expect(slow).rejects.toMatchObject({ inDoubt: true, code: 9 });
    // Sent after the timeout, answered after the late reply: must get its own reply.
    expect(await gen(c.request(marked(2), ProtoType.MSG, false, 2000))).toBe(2);
    expect(c.state).toBe("open");
  });

  it("too many unanswered timed-out requests destroy the connection", async () => {
    const n = await start(() => ({ hang: true }));
    const c = await connect(n, { abandonedMax: 2 });
    const all = [1, 2, 3].map((i) => c.request(marked(i), ProtoType.MSG, false, 20));
    const pending = c.request(marked(4), ProtoType.MSG, true, 5000);
    for (const p of all) await expect(p).rejects.toBeInstanceOf(TimeoutError);
    await expect(pending).rejects.toMatchObject({ name: "ConnectionError", inDoubt: true });
    expect(c.state).toBe("closed");
  });

  it("a reply larger than bodyBytesMax, or of the wrong proto type, kills the connection", async () => {
    const n = await start((m) => (m.transactionTtl === 1
      ? { raw: rawFrame(ProtoType.MSG, Buffer.alloc(2000)) }
      : { raw: rawFrame(ProtoType.INFO, Buffer.from("x\ty\n")) }));
    const c1 = await connect(n, { bodyBytesMax: 1000 });
    await expect(c1.request(marked(1), ProtoType.MSG, false, 2000)).rejects.toThrow(/exceeds the limit/);
    const c2 = await connect(n);
    await expect(c2.request(marked(2), ProtoType.MSG, false, 2000)).rejects.toThrow(/proto type 1/);
  });

  it("close() is idempotent and graceful: in-flight requests finish first", async () => {
    const n = await start(async (m) => {
      await sleep(30);
      return echo(m);
    });
    const c = await connect(n);
    const p = gen(c.request(marked(5), ProtoType.MSG, false, 2000));
    const closing = [c.close(), c.close()];
    await expect(c.request(marked(6), ProtoType.MSG, false, 100)).rejects.toThrow(/closing/);
    expect(await p).toBe(5);
    await Promise.all(closing);
    expect(c.state).toBe("closed");
    c.destroy(); // after close: a no-op
  });

  it("connecting to a closed port is a ConnectionError", async () => {
    const n = await start();
    const port = n.port;
    await n.close();
    nodes.length = 0;
    await expect(Connection.connect({ host: "127.0.0.1", port, connectTimeoutMs: 500 })).rejects.toBeInstanceOf(ConnectionError);
  });
});

describe("NodePool", () => {
  const pool = (n: FakeNode, o: Partial<ConstructorParameters<typeof NodePool>[0]> = {}) =>
    new NodePool({ name: "N1", address: { host: n.host, port: n.port }, ...o });

  it("pipelines on few connections and opens more when they are full", async () => {
    const n = await start(async (m) => {
      await sleep(20);
      return echo(m);
    });
    const p = pool(n, { maxConnsPerNode: 4, inFlightPerConnMax: 2 });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => gen(p.request(marked(i), ProtoType.MSG, false, 5000))));
    expect(results).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(n.accepted).toBeLessThanOrEqual(4);
    expect(n.accepted).toBeGreaterThanOrEqual(2);
    expect(p.stats().conns).toBe(n.accepted);
    await p.close();
  });

  it("a full queue rejects with QueueFullError naming the knob", async () => {
    const n = await start(async (m) => {
      await sleep(30);
      return echo(m);
    });
    const p = pool(n, { maxConnsPerNode: 1, inFlightPerConnMax: 1, queuedMax: 2 });
    const all = Array.from({ length: 5 }, (_, i) => p.request(marked(i), ProtoType.MSG, false, 5000));
    const settled = await Promise.allSettled(all);
    const rejected = settled.filter((s) => s.status === "rejected") as PromiseRejectedResult[];
    // The first request waits for the first connection too, so it counts against the queue.
    expect(rejected.length).toBeGreaterThanOrEqual(2);
    for (const r of rejected) {
      expect(r.reason).toBeInstanceOf(QueueFullError);
      expect(r.reason.message).toMatch(/maxConnsPerNode/);
    }
    expect(settled.filter((s) => s.status === "fulfilled").length).toBe(5 - rejected.length);
    await p.close();
  });

  it("a request that never gets a connection slot times out, not in doubt even for a write", async () => {
    const n = await start(() => ({ hang: true }));
    const p = pool(n, { maxConnsPerNode: 1, inFlightPerConnMax: 1 });
    const first = p.request(marked(1), ProtoType.MSG, true, 2000);
    await sleep(50); // the first one is on the wire now
    const queued = p.request(marked(2), ProtoType.MSG, true, 40);
    await expect(queued).rejects.toMatchObject({ name: "TimeoutError", inDoubt: false });
    p.destroy();
    await expect(first).rejects.toMatchObject({ name: "ConnectionError", inDoubt: true });
  });

  it("a node that refuses connections fails queued requests at once", async () => {
    const n = await start();
    const address = { host: n.host, port: n.port };
    await n.close();
    nodes.length = 0;
    const p = new NodePool({ name: "gone", address, connectTimeoutMs: 500 });
    await expect(p.request(marked(1), ProtoType.MSG, false, 2000)).rejects.toBeInstanceOf(ConnectionError);
    await p.close();
    await expect(p.request(marked(1), ProtoType.MSG, false, 2000)).rejects.toThrow(/closed/);
  });

  it("info runs on its own connection", async () => {
    const n = await start();
    const p = pool(n);
    const v = await p.info(["node", "build"], 1000);
    expect(v.get("node")).toBe("BB9000000000001");
    expect(v.get("build")).toBe("8.0.0.0");
    expect(p.stats().conns).toBe(0);
    await p.close();
  });
});
