/**
 * Goal: both stores keep the tombstone mark of a record (a delete's marker) through put, get,
 * partition reads and, for LMDB, a reopen; and the marker is reclaimed by the expiry sweep.
 * Method: the same checks against MemoryStore and an LmdbStore in a temp dir.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CITRUSLEAF_EPOCH_SEC, computeDigest, partitionId } from "../../client/protocol/index.js";
import { LmdbEnvironment } from "../../server/storage/lmdb-store.js";
import { MemoryStore } from "../../server/storage/memory-store.js";
import type { RecordStore, StoredRecord } from "../../server/storage/record-store.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const nowMs = 1_800_000_000_000;
const nowCl = Math.floor(nowMs / 1000) - CITRUSLEAF_EPOCH_SEC;
const tomb = (voidTime: number): StoredRecord => ({ generation: 7, lastUpdateMs: nowMs, voidTime, setName: "s", bins: [], tombstone: true });

async function check(store: RecordStore): Promise<void> {
  const d = computeDigest("s", "dead");
  await store.put(d, tomb(nowCl + 100));
  expect(store.get(d, nowMs)).toMatchObject({ generation: 7, tombstone: true, bins: [] });
  expect([...store.partitionEntries(partitionId(d))].map((e) => e.record.tombstone)).toEqual([true]);
  const live = computeDigest("s", "alive");
  await store.put(live, { generation: 1, lastUpdateMs: nowMs, voidTime: 0, setName: "s", bins: [{ name: "a", type: 1, data: Buffer.alloc(8) }] });
  expect(store.get(live, nowMs)?.tombstone).toBeUndefined();
  // Past its retention the tombstone is expired: invisible, then swept.
  expect(store.get(d, nowMs + 101_000)).toBeUndefined();
  expect(await store.sweepExpired(nowMs + 101_000, 100)).toBe(1);
  expect(store.count()).toBe(1);
}

describe("tombstones in the stores", () => {
  it("memory store", async () => check(new MemoryStore()));
  it("LMDB store, and the mark survives a reopen", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shoal-tomb-"));
    dirs.push(dir);
    let env = LmdbEnvironment.open({ path: path.join(dir, "db.mdb") });
    await check(env.store("test"));
    const d = computeDigest("s", "again");
    await env.store("test").put(d, tomb(0));
    await env.close();
    env = LmdbEnvironment.open({ path: path.join(dir, "db.mdb") });
    expect(env.store("test").get(d, nowMs)?.tombstone).toBe(true);
    await env.close();
  });
});
