/**
 * Goal: the Resyncer repairs every copy a failed replica write left behind, and never forgets one
 * it has not repaired: an entry clears only when a sync that started after its last failure
 * completed in the same cluster; a cluster change hands every open entry over (takeDiverged);
 * failed syncs are retried; at most RESYNC_CONCURRENCY (4) run at once.
 *
 * Method: fake deps whose `sync` returns promises the test settles by hand, with fake timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Resyncer } from "../../server/cluster/resync.js";

interface Call {
  ns: string;
  pid: number;
  to: string;
  ck: string;
  resolve(): void;
  reject(err: Error): void;
}

function fixture() {
  let ck: string | null = "K1";
  const calls: Call[] = [];
  const r = new Resyncer({
    clusterKey: () => ck,
    sync: (ns, pid, to, key) => new Promise<void>((resolve, reject) => calls.push({ ns, pid, to, ck: key, resolve, reject })),
  });
  return { r, calls, setCk: (k: string | null) => (ck = k) };
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe("Resyncer", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("syncs a copy that missed a write once, after a short delay, and clears it", async () => {
    const { r, calls } = fixture();
    r.noteFailed("test", 7, "B");
    r.noteFailed("test", 7, "B"); // a burst shares one sync
    expect(r.pending).toBe(1);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(250);
    expect(calls.map((c) => [c.ns, c.pid, c.to, c.ck])).toEqual([["test", 7, "B", "K1"]]);
    calls[0]!.resolve();
    await flush();
    expect(r.pending).toBe(0);
    expect(r.done).toBe(1);
    expect(r.takeDiverged().size).toBe(0);
  });

  it("keeps an entry whose write failed again while its sync ran, and syncs it again", async () => {
    const { r, calls } = fixture();
    r.noteFailed("test", 7, "B");
    await vi.advanceTimersByTimeAsync(250);
    r.noteFailed("test", 7, "B"); // may have been written after the sync read the partition
    calls[0]!.resolve();
    await flush();
    expect(r.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(1100);
    expect(calls).toHaveLength(2);
    calls[1]!.resolve();
    await flush();
    expect(r.pending).toBe(0);
  });

  it("retries a failed sync, and hands open entries over when the cluster changes", async () => {
    const { r, calls, setCk } = fixture();
    r.noteFailed("test", 7, "B");
    r.noteFailed("test", 9, "C");
    r.noteFailed("other", 9, "B");
    await vi.advanceTimersByTimeAsync(250);
    expect(calls).toHaveLength(3);
    calls[0]!.reject(new Error("timeout"));
    await flush();
    expect(r.failed).toBe(1);
    await vi.advanceTimersByTimeAsync(1100);
    expect(calls).toHaveLength(4); // the retry
    setCk("K2");
    calls[1]!.resolve(); // completed, but the cluster changed meanwhile: not cleared
    await flush();
    const handed = r.takeDiverged();
    expect(Object.fromEntries([...handed].map(([ns, pids]) => [ns, [...pids].sort((a, b) => a - b)]))).toEqual({ test: [7, 9], other: [9] });
    expect(r.pending).toBe(0);
  });

  it("runs at most 4 syncs at once and starts the next when one ends", async () => {
    const { r, calls } = fixture();
    for (let pid = 0; pid < 6; pid++) r.noteFailed("test", pid, "B");
    await vi.advanceTimersByTimeAsync(250);
    expect(calls).toHaveLength(4);
    calls[0]!.resolve();
    await flush();
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toHaveLength(5);
  });

  it("waits while there is no cluster", async () => {
    const { r, calls, setCk } = fixture();
    setCk(null);
    r.noteFailed("test", 1, "B");
    await vi.advanceTimersByTimeAsync(2000);
    expect(calls).toHaveLength(0);
    setCk("K3");
    await vi.advanceTimersByTimeAsync(1100);
    expect(calls.map((c) => c.ck)).toEqual(["K3"]);
    r.close();
  });
});
