/**
 * Goal: the ExpirySweeper reclaims expired records over time, in bounded batches, without
 * overlapping ticks, survives a failing store, and stops for good on close().
 *
 * Method: memory stores and a fake wall clock (`now` is a variable the test advances); the
 * timer-driven cases use vitest fake timers (`advanceTimersByTimeAsync`), so no test sleeps and
 * every case is bounded by a fixed number of ticks. A wrapper store records concurrent sweeps.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ExpirySweeper } from "../../server/storage/expiry.js";
import { MemoryStore } from "../../server/storage/memory-store.js";
import { CITRUSLEAF_EPOCH_SEC, RecordStore, StoredRecord } from "../../server/storage/record-store.js";

const T0_MS = Date.UTC(2025, 0, 1);
const T0_CL = T0_MS / 1000 - CITRUSLEAF_EPOCH_SEC;

function digest(i: number): Buffer {
  const d = Buffer.alloc(20);
  d.writeUInt32BE(i, 0); // spreads records over partitions
  d.writeUInt32BE(i, 16);
  return d;
}

function rec(voidTime: number): StoredRecord {
  return { generation: 1, lastUpdateMs: T0_MS, voidTime, setName: "", bins: [] };
}

/** Record i expires i seconds after T0 (1..n); record 0 never expires. */
async function filled(n: number): Promise<MemoryStore> {
  const store = new MemoryStore();
  await store.put(digest(0), rec(0));
  for (let i = 1; i <= n; i++) await store.put(digest(i), rec(T0_CL + i));
  return store;
}

/** Counts sweeps in flight at once; each sweep takes `delayMs` of (fake) time. */
class SlowStore {
  inFlight = 0;
  inFlightMax = 0;
  calls = 0;
  constructor(private readonly inner: RecordStore, private readonly delayMs: number) {}
  asStore(): RecordStore {
    return Object.assign(Object.create(this.inner) as RecordStore, {
      sweepExpired: async (nowMs: number, limit: number): Promise<number> => {
        this.calls += 1;
        this.inFlight += 1;
        this.inFlightMax = Math.max(this.inFlightMax, this.inFlight);
        await new Promise((resolve) => setTimeout(resolve, this.delayMs));
        this.inFlight -= 1;
        return this.inner.sweepExpired(nowMs, limit);
      },
    });
  }
}

describe("ExpirySweeper.sweepOnce", () => {
  it("removes only what has expired at `now`, at most batchLimit per store per sweep", async () => {
    let now = T0_MS;
    const store = await filled(10);
    const sweeper = new ExpirySweeper({ stores: () => [store], intervalMs: 1000, batchLimit: 3, now: () => now });
    expect(await sweeper.sweepOnce()).toBe(0);
    now = T0_MS + 5_000; // records 1..5 expired
    const removed: number[] = [];
    for (let i = 0; i < 4; i++) removed.push(await sweeper.sweepOnce());
    expect(removed).toEqual([3, 2, 0, 0]);
    expect(store.count()).toBe(6);
    expect(store.get(digest(6), now)).toBeDefined();
    now = T0_MS + 3_600_000;
    while ((await sweeper.sweepOnce()) > 0);
    expect(store.count()).toBe(1); // only the record that never expires
    expect(sweeper.removed).toBe(10);
    await sweeper.close();
  });

  it("sweeps every store, and reports a failing one without skipping the others", async () => {
    const a = await filled(4);
    const b = await filled(4);
    const broken = Object.assign(new MemoryStore(), {
      sweepExpired: () => Promise.reject(new Error("disk on fire")),
    });
    const errors: unknown[] = [];
    const sweeper = new ExpirySweeper({
      stores: () => [a, broken, b], intervalMs: 1000, batchLimit: 100,
      now: () => T0_MS + 10_000, onError: (err) => errors.push(err),
    });
    expect(await sweeper.sweepOnce()).toBe(8);
    expect([a.count(), b.count()]).toEqual([1, 1]);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe("disk on fire");
    await sweeper.close();
  });

  it("validates its options", () => {
    const base = { stores: () => [], now: () => 0 };
    expect(() => new ExpirySweeper({ ...base, intervalMs: 0, batchLimit: 1 })).toThrow(/intervalMs/);
    expect(() => new ExpirySweeper({ ...base, intervalMs: 10, batchLimit: 0.5 })).toThrow(/batchLimit/);
  });
});

describe("ExpirySweeper timer", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reclaims expired records over time as the clock advances", async () => {
    let now = T0_MS;
    const store = await filled(20);
    const sweeper = new ExpirySweeper({ stores: () => [store], intervalMs: 100, batchLimit: 2, now: () => now });
    sweeper.start();
    sweeper.start(); // no second timer
    expect(sweeper.state).toBe("running");
    await vi.advanceTimersByTimeAsync(1_000);
    expect(store.count()).toBe(21); // nothing has expired yet
    for (let s = 1; s <= 20; s++) {
      now = T0_MS + s * 1000;
      await vi.advanceTimersByTimeAsync(100); // one tick per simulated second
      expect(store.count()).toBe(21 - s);
    }
    expect(vi.getTimerCount()).toBe(1);
    await sweeper.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("never overlaps ticks, even when a sweep outlasts the interval", async () => {
    const slow = new SlowStore(await filled(50), 250);
    const store = slow.asStore();
    const sweeper = new ExpirySweeper({ stores: () => [store], intervalMs: 10, batchLimit: 5, now: () => T0_MS + 60_000 });
    sweeper.start();
    const manual = sweeper.sweepOnce(); // queued behind whatever tick is running
    await vi.advanceTimersByTimeAsync(5_000);
    await manual;
    expect(slow.calls).toBeGreaterThan(5);
    expect(slow.inFlightMax).toBe(1);
    const closing = sweeper.close(); // a tick is in flight: let its (fake) time pass
    await vi.advanceTimersByTimeAsync(250);
    await closing;
  });

  it("close() is idempotent, waits for the tick in flight, and stops the timer for good", async () => {
    const slow = new SlowStore(await filled(10), 50);
    const store = slow.asStore();
    const sweeper = new ExpirySweeper({ stores: () => [store], intervalMs: 10, batchLimit: 1, now: () => T0_MS + 60_000 });
    sweeper.start();
    await vi.advanceTimersByTimeAsync(20); // a tick is now in flight
    expect(slow.inFlight).toBe(1);
    const closing = [sweeper.close(), sweeper.close()];
    expect(sweeper.state).toBe("closed");
    await vi.advanceTimersByTimeAsync(50);
    await Promise.all(closing);
    expect(slow.inFlight).toBe(0);
    const calls = slow.calls;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(slow.calls).toBe(calls);
    sweeper.start(); // a closed sweeper does not restart
    await vi.advanceTimersByTimeAsync(1_000);
    expect(slow.calls).toBe(calls);
    expect(() => sweeper.sweepOnce()).toThrow(/after close/);
  });
});
