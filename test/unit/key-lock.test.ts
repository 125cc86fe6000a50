/**
 * Goal: KeyLocks serialises work per key, `run` and `runAll` alike: a batch holding many keys
 * (a migration chunk) starts only after earlier work on any of its keys settled, later work on
 * any of them waits for it, work on other keys does not wait, and the map empties when done.
 *
 * Method: tasks that record their start and end around a manually resolved promise, in random
 * orders of single-key and multi-key work (fast-check): no two tasks sharing a key ever overlap,
 * tasks sharing a key start in issue order, and a task blocked only by itself runs at once.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyLocks } from "../../server/service/key-lock.js";

const tick = () => new Promise((r) => setImmediate(r));

describe("KeyLocks", () => {
  it("runAll waits for earlier work on any of its keys, and later work waits for it", async () => {
    const locks = new KeyLocks();
    const log: string[] = [];
    let releaseA!: () => void;
    const a = locks.run("a", () => new Promise<void>((r) => (releaseA = r)).then(() => void log.push("a done")));
    const batch = locks.runAll(["x", "a", "b"], () => void log.push("batch"));
    const b = locks.run("b", () => void log.push("b"));
    const other = locks.run("c", () => void log.push("c"));
    await other;
    await tick();
    expect(log).toEqual(["c"]); // the batch waits for a; b waits for the batch
    expect(locks.busy("x") && locks.busy("b")).toBe(true);
    releaseA();
    await Promise.all([a, batch, b]);
    expect(log).toEqual(["c", "a done", "batch", "b"]);
    await tick();
    expect(locks.size).toBe(0);
  });

  it("a failing batch releases its keys", async () => {
    const locks = new KeyLocks();
    await expect(locks.runAll(["k", "k2"], () => { throw new Error("boom"); })).rejects.toThrow("boom");
    expect(await locks.run("k", () => 1)).toBe(1);
    await tick();
    expect(locks.size).toBe(0);
  });

  it("never overlaps two tasks sharing a key; tasks sharing a key start in issue order", async () => {
    const keySetArb = fc.uniqueArray(fc.constantFrom("a", "b", "c", "d"), { minLength: 1, maxLength: 3 });
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(keySetArb, fc.nat(3)), { minLength: 1, maxLength: 12 }), async (tasks) => {
      const locks = new KeyLocks();
      const running = new Set<number>();
      const started: number[] = [];
      const runs = tasks.map(([keys, turns], i) => {
        const body = async () => {
          for (const j of running) expect(tasks[j]![0].some((k) => keys.includes(k))).toBe(false);
          running.add(i);
          started.push(i);
          for (let t = 0; t < turns; t++) await tick();
          running.delete(i);
        };
        return keys.length === 1 && i % 2 === 0 ? locks.run(keys[0]!, body) : locks.runAll(keys, body);
      });
      await Promise.all(runs);
      for (let i = 0; i < tasks.length; i++) {
        for (let j = i + 1; j < tasks.length; j++) {
          if (tasks[i]![0].some((k) => tasks[j]![0].includes(k))) expect(started.indexOf(i)).toBeLessThan(started.indexOf(j));
        }
      }
      await tick();
      expect(locks.size).toBe(0);
    }), { numRuns: 200 });
  });
});
