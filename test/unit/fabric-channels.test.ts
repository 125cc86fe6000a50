/**
 * Goal: migration data cannot hold up what clients wait on. A request on the fabric's "ctrl"
 * channel (replica writes, proxies, holdings) is read by the peer while megabytes of "bulk"
 * requests (migration chunks) sent before it are still arriving; and both channels reach the
 * same handlers. Method: two real Fabric instances on 127.0.0.1.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Fabric } from "../../server/cluster/fabric.js";

const quiet = { debug: () => undefined, warn: () => undefined };
const opened: Fabric[] = [];

async function pair(): Promise<{ a: Fabric; b: Fabric }> {
  const ports = new Map<string, number>();
  const addressOf = (id: string) => (ports.has(id) ? { host: "127.0.0.1", port: ports.get(id)! } : undefined);
  const make = (nodeId: string) => new Fabric({ nodeId, clusterName: "t", host: "127.0.0.1", port: 0, queueBytesMax: 256 * 1024 * 1024 }, addressOf, quiet);
  const a = make("A");
  const b = make("B");
  opened.push(a, b);
  ports.set("A", await a.listen());
  ports.set("B", await b.listen());
  return { a, b };
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((f) => f.close()));
});

describe("fabric channels", () => {
  it("answers a ctrl request while bulk requests sent before it are still arriving", async () => {
    const { a, b } = await pair();
    const BULK = 48;
    let bulkHandled = 0;
    b.handle("chunk", () => {
      bulkHandled += 1;
      return null;
    });
    let bulkHandledAtPing = -1;
    b.handle("ping", () => {
      bulkHandledAtPing = bulkHandled;
      return "pong";
    });
    // Warm both connections up, so that neither waits for its TCP handshake below.
    await a.request("B", "ping", null, 5000, "ctrl");
    await a.request("B", "chunk", Buffer.alloc(1), 5000, "bulk");
    bulkHandled = 0;
    const payload = Buffer.alloc(1024 * 1024, 7);
    const bulk = Array.from({ length: BULK }, () => a.request("B", "chunk", payload, 30_000, "bulk"));
    expect(await a.request("B", "ping", null, 5000)).toBe("pong");
    await Promise.all(bulk);
    expect(bulkHandled).toBe(BULK);
    // On one connection the ping would be read after all 48 MiB before it.
    expect(bulkHandledAtPing).toBeGreaterThanOrEqual(0);
    expect(bulkHandledAtPing).toBeLessThan(BULK / 2);
  }, 30_000);

  it("reaches the same handlers on both channels and reconnects both after forget", async () => {
    const { a, b } = await pair();
    const seen: string[] = [];
    b.handle("echo", (payload, from) => {
      seen.push(`${from}:${String(payload)}`);
      return payload;
    });
    expect(await a.request("B", "echo", "x", 5000, "ctrl")).toBe("x");
    expect(await a.request("B", "echo", "y", 5000, "bulk")).toBe("y");
    a.forget("B");
    expect(await a.request("B", "echo", "z", 5000, "bulk")).toBe("z");
    expect(await a.request("B", "echo", "w", 5000)).toBe("w");
    expect(seen).toEqual(["A:x", "A:y", "A:z", "A:w"]);
  });
});
