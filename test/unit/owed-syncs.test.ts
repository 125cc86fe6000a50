/**
 * Goal: owed resyncs recorded in the LMDB environment survive closing and reopening it (a
 * restart), beside the records and apart from them; adds and removes are idempotent and the last
 * one issued wins; malformed entries are dropped at load; a write after the environment closed is
 * reported, never thrown. The memory log keeps the same contract within one process.
 *
 * Method: a fresh LMDB environment in a temp dir per test, reopened to stand for a restart.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LmdbEnvironment } from "../../server/storage/lmdb-store.js";
import { LmdbOwedSyncs, MemoryOwedSyncs, OWED_SYNCS_DB, type OwedSync, type OwedSyncLog } from "../../server/storage/owed-syncs.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function envDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "shoal-owed-"));
  dirs.push(d);
  return d;
}

const sorted = (es: OwedSync[]) => es.map((e) => `${e.ns}/${e.pid}>${e.target}`).sort();

/** The contract both logs keep within one process. */
function exercise(log: OwedSyncLog): void {
  log.add({ ns: "test", pid: 7, target: "B" });
  log.add({ ns: "test", pid: 7, target: "B" }); // idempotent
  log.add({ ns: "test", pid: 7, target: "C" });
  log.add({ ns: "other", pid: 4095, target: "B" });
  log.remove({ ns: "test", pid: 7, target: "C" });
  log.remove({ ns: "test", pid: 9, target: "C" }); // absent: nothing happens
  log.add({ ns: "test", pid: 0, target: "D" });
  log.remove({ ns: "test", pid: 0, target: "D" });
  log.add({ ns: "test", pid: 0, target: "D" }); // the last word wins
}
const EXPECTED = ["other/4095>B", "test/0>D", "test/7>B"];

describe("owed syncs", () => {
  it("memory: adds and removes, idempotent, last word wins", () => {
    const log = new MemoryOwedSyncs();
    exercise(log);
    expect(sorted(log.load())).toEqual(EXPECTED);
    expect(log.size).toBe(3);
  });

  it("LMDB: the entries survive a reopen of the environment, apart from the namespaces' records", async () => {
    const dir = envDir();
    let env = LmdbEnvironment.open({ path: dir });
    const store = env.store("test");
    await store.put(Buffer.alloc(20, 1), { generation: 1, lastUpdateMs: 1, voidTime: 0, setName: "", bins: [] });
    exercise(new LmdbOwedSyncs(env.metaDb(OWED_SYNCS_DB), env));
    expect(env.metaDb(OWED_SYNCS_DB)).toBe(env.metaDb(OWED_SYNCS_DB)); // opened once
    await env.close(); // waits for the pending writes
    env = LmdbEnvironment.open({ path: dir });
    try {
      const log = new LmdbOwedSyncs(env.metaDb(OWED_SYNCS_DB), env);
      expect(sorted(log.load())).toEqual(EXPECTED);
      expect(env.store("test").count()).toBe(1); // the records are not mixed up with them
      log.remove({ ns: "test", pid: 7, target: "B" });
      await env.metaDb(OWED_SYNCS_DB).flushed;
      expect(sorted(log.load())).toEqual(["other/4095>B", "test/0>D"]);
    } finally {
      await env.close();
    }
  });

  it("LMDB: drops malformed entries at load; a namespace's name cannot be used for it", async () => {
    const dir = envDir();
    const env = LmdbEnvironment.open({ path: dir });
    try {
      const db = env.metaDb(OWED_SYNCS_DB);
      await db.put(["test", 5000, "B"], 1); // no such partition
      await db.put(["test", 1], 1);
      await db.put("junk", 1);
      await db.put(["test", 3, "B"], 1);
      const log = new LmdbOwedSyncs(db, env);
      expect(sorted(log.load())).toEqual(["test/3>B"]);
      await db.flushed;
      expect([...db.getKeys({})]).toEqual([["test", 3, "B"]]);
      expect(() => env.metaDb("ns/test")).toThrow(/ns\//);
    } finally {
      await env.close();
    }
  });

  it("LMDB: a write after the environment closed is reported, not thrown", async () => {
    const env = LmdbEnvironment.open({ path: envDir() });
    const errors: unknown[] = [];
    const log = new LmdbOwedSyncs(env.metaDb(OWED_SYNCS_DB), env, (err) => errors.push(err));
    await env.close();
    expect(() => log.add({ ns: "test", pid: 1, target: "B" })).not.toThrow();
    expect(() => log.remove({ ns: "test", pid: 1, target: "B" })).not.toThrow();
    expect(errors.map((e) => (e as Error).message)).toEqual([expect.stringMatching(/closed/), expect.stringMatching(/closed/)]);
  });
});
