/**
 * Goal: the Resyncer repairs every copy a failed replica write left behind, and never forgets one
 * it has not repaired: an entry clears only when a sync that started after its last failure
 * completed, when its target is no write target any more, or when this node holds nothing of the
 * partition; entries outlive cluster changes (and are listed as diverged for them); failed
 * syncs are retried; at most RESYNC_CONCURRENCY (4) run at once. Entries outlive the process
 * too: the log (owed-syncs.ts) holds exactly the open (partition, target) pairs, and a Resyncer
 * restored from it at start lists them as diverged, holds their drops back and resumes their
 * syncs in the first cluster.
 *
 * Method: fake deps whose `sync` returns promises the test settles by hand, with fake timers; a
 * MemoryOwedSyncs shared by two Resyncers stands for the disk across a restart.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Resyncer } from "../../server/cluster/resync.js";
import { MemoryOwedSyncs, type OwedSync } from "../../server/storage/owed-syncs.js";

interface Call {
  ns: string;
  pid: number;
  to: string;
  ck: string;
  resolve(): void;
  reject(err: Error): void;
}

function fixture(log?: MemoryOwedSyncs, firstCk: string | null = "K1") {
  let ck: string | null = firstCk;
  const calls: Call[] = [];
  const checks = new Map<string, "yes" | "target-gone" | "nothing-held">();
  const settled: string[] = [];
  const r = new Resyncer({
    clusterKey: () => ck,
    check: (ns, pid, to) => checks.get(`${ns}/${pid}>${to}`) ?? checks.get(`${ns}/${pid}`) ?? "yes",
    sync: (ns, pid, to, key) => new Promise<void>((resolve, reject) => calls.push({ ns, pid, to, ck: key, resolve, reject })),
    settled: (ns, pid) => settled.push(`${ns}/${pid}`),
  });
  if (log) r.restore(log);
  return { r, calls, checks, settled, setCk: (k: string | null) => (ck = k) };
}

const logged = (log: MemoryOwedSyncs) => log.load().map((e: OwedSync) => `${e.ns}/${e.pid}>${e.target}`).sort();

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
    expect(r.diverged().size).toBe(0);
    expect(r.owes("test", 7)).toBe(false);
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

  it("retries a failed sync; open entries outlive a cluster change and their syncs go on in it", async () => {
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
    r.clusterChanged();
    const diverged = r.diverged();
    expect(Object.fromEntries([...diverged].map(([ns, pids]) => [ns, [...pids].sort((a, b) => a - b)]))).toEqual({ test: [7, 9], other: [9] });
    expect(r.owes("test", 7) && r.owes("other", 9)).toBe(true); // their copies must stay
    calls[3]!.reject(new Error("cluster changed"));
    await flush();
    await vi.advanceTimersByTimeAsync(1100);
    expect(calls.slice(4).map((c) => [c.pid, c.to, c.ck])).toEqual([[7, "B", "K2"]]); // tried again in K2
    for (const c of [calls[1]!, calls[2]!, calls[4]!]) c.resolve();
    await flush();
    expect(r.pending).toBe(0);
  });

  it("drops a target that is no write target any more, and an entry whose partition is no longer held here", async () => {
    const { r, calls, checks, settled } = fixture();
    r.noteFailed("test", 1, "B");
    r.noteFailed("test", 1, "C");
    r.noteFailed("test", 2, "B");
    checks.set("test/1>C", "target-gone");
    checks.set("test/2", "nothing-held");
    await vi.advanceTimersByTimeAsync(250);
    expect(calls.map((c) => [c.pid, c.to])).toEqual([[1, "B"]]);
    expect(r.owes("test", 2)).toBe(false);
    expect(settled).toEqual(["test/2"]); // its drop may go
    calls[0]!.resolve();
    await flush();
    expect(r.pending).toBe(0);
    expect(settled).toEqual(["test/2", "test/1"]);
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

  it("keeps every owed copy in its log, once, until its sync completes with no failure since it started", async () => {
    const log = new MemoryOwedSyncs();
    const { r, calls, checks } = fixture(log);
    r.noteFailed("test", 7, "B");
    r.noteFailed("test", 7, "B");
    r.noteFailed("test", 7, "C");
    r.noteFailed("test", 8, "B");
    r.noteFailed("test", 9, "B");
    checks.set("test/7>C", "target-gone");
    checks.set("test/9", "nothing-held");
    expect(logged(log)).toEqual(["test/7>B", "test/7>C", "test/8>B", "test/9>B"]);
    await vi.advanceTimersByTimeAsync(250);
    expect(logged(log)).toEqual(["test/7>B", "test/8>B"]); // moot ones went
    r.noteFailed("test", 7, "B"); // during its sync
    for (const c of calls) c.resolve();
    await flush();
    expect(logged(log)).toEqual(["test/7>B"]);
    await vi.advanceTimersByTimeAsync(1100);
    calls[2]!.reject(new Error("timeout"));
    await flush();
    expect(logged(log)).toEqual(["test/7>B"]); // a failed sync keeps it
    await vi.advanceTimersByTimeAsync(1100);
    calls[3]!.resolve();
    await flush();
    expect(logged(log)).toEqual([]);
    expect(r.pending).toBe(0);
  });

  it("a restarted node takes the entries its log kept: diverged, drops held back, synced in its first cluster", async () => {
    const log = new MemoryOwedSyncs();
    const before = fixture(log);
    before.r.noteFailed("test", 7, "B");
    before.r.noteFailed("test", 7, "C");
    before.r.noteFailed("other", 3, "B");
    await vi.advanceTimersByTimeAsync(250);
    expect(before.calls).toHaveLength(3);
    before.r.close(); // the process dies with its syncs running
    before.calls[0]!.resolve(); // (its end is not heard of: a dead process writes nothing)
    await flush();
    expect(logged(log)).toEqual(["other/3>B", "test/7>B", "test/7>C"]);

    const { r, calls, checks, settled, setCk } = fixture(log, null); // restart: no cluster yet
    expect(r.pending).toBe(3);
    expect(r.owes("test", 7) && r.owes("other", 3)).toBe(true);
    const diverged = r.diverged();
    expect(Object.fromEntries(diverged)).toEqual({ test: [7], other: [3] });
    r.clusterChanged();
    await vi.advanceTimersByTimeAsync(2000);
    expect(calls).toHaveLength(0); // waits for the cluster's ownership
    checks.set("other/3", "nothing-held"); // e.g. a memory namespace: its records died too
    setCk("K5");
    await vi.advanceTimersByTimeAsync(1100);
    expect(calls.map((c) => [c.ns, c.pid, c.to, c.ck])).toEqual([["test", 7, "B", "K5"], ["test", 7, "C", "K5"]]);
    expect(settled).toEqual(["other/3"]);
    for (const c of calls) c.resolve();
    await flush();
    expect(r.pending).toBe(0);
    expect(r.owes("test", 7)).toBe(false);
    expect(logged(log)).toEqual([]);
  });
});
