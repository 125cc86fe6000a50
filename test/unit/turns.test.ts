/**
 * Goal: `Turns` lets waiters through in order; once those of one turn used its budget, the rest
 * wait for a later turn, with socket I/O handled between (unlike immediates queued in one turn,
 * which run back to back); cheap waiters share a turn.
 */
import net from "node:net";
import { describe, expect, it } from "vitest";
import { Turns } from "../../server/service/turns.js";

/** Runs `fn` with a connected client socket; `events` gets "io" for each read on the server side. */
async function withSocket(fn: (client: net.Socket, events: string[]) => Promise<void>): Promise<void> {
  const events: string[] = [];
  const server = net.createServer((s) => s.on("data", () => events.push("io")));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise<void>((r) => client.once("connect", r));
  await new Promise((r) => setTimeout(r, 20)); // the server has accepted
  try {
    await fn(client, events);
  } finally {
    client.destroy();
    await new Promise((r) => server.close(r));
  }
}

describe("Turns", () => {
  it("lets waiters through in order, with socket reads between them once a turn's budget is used", async () => {
    await withSocket(async (client, events) => {
      const turns = new Turns(2);
      const busy = (ms: number) => {
        const until = performance.now() + ms;
        while (performance.now() < until) { /* a slice of work */ }
      };
      const waiters = [1, 2, 3, 4, 5, 6].map((i) => turns.next().then(() => {
        events.push(`turn ${i}`);
        if (i === 1) client.write("x"); // arrives while the other five wait
        busy(3); // over the budget: the next waiter gets a later turn
      }));
      expect(turns.pending).toBe(6);
      await Promise.all(waiters);
      expect(turns.pending).toBe(0);
      expect(events.filter((e) => e !== "io")).toEqual(["turn 1", "turn 2", "turn 3", "turn 4", "turn 5", "turn 6"]);
      // The read of "x" came in between (the same waiters on plain immediates all run first).
      expect(events.indexOf("io")).toBeGreaterThan(events.indexOf("turn 1"));
      expect(events.indexOf("io")).toBeLessThan(events.indexOf("turn 6"));
    });
  });

  it("lets cheap waiters through in one turn, before I/O that became ready meanwhile", async () => {
    await withSocket(async (client, events) => {
      const turns = new Turns(1000);
      const waiters = [1, 2, 3, 4, 5, 6].map((i) => turns.next().then(() => {
        events.push(`turn ${i}`);
        if (i === 1) client.write("x");
      }));
      await Promise.all(waiters);
      await new Promise((r) => setTimeout(r, 20));
      expect(events).toEqual(["turn 1", "turn 2", "turn 3", "turn 4", "turn 5", "turn 6", "io"]);
    });
  });

  it("lets later callers through after the ones before them, also when they join midway", async () => {
    const turns = new Turns(0);
    const order: number[] = [];
    await Promise.all([
      turns.next().then(async () => {
        order.push(1);
        await turns.next();
        order.push(3);
      }),
      turns.next().then(() => order.push(2)),
    ]);
    expect(order).toEqual([1, 2, 3]);
  });
});
