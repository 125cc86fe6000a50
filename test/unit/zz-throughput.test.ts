import fs from "node:fs"; import os from "node:os"; import path from "node:path"; import crypto from "node:crypto";
import { it } from "vitest";
import { LmdbEnvironment } from "../../server/storage/lmdb-store.js";
import { MemoryStore } from "../../server/storage/memory-store.js";
import { CITRUSLEAF_EPOCH_SEC, RecordStore, StoredRecord } from "../../server/storage/record-store.js";
const N = 50_000;
function rec(i: number, voidTime = 0): StoredRecord {
  return { generation: 1, lastUpdateMs: 1735732800000 + i, voidTime, setName: "bench",
    userKey: { type: 3, data: Buffer.from(`key-${i}`) }, bins: [{ name: "v", type: 4, data: crypto.randomBytes(100) }] };
}
async function bench(label: string, store: RecordStore) {
  const digests = Array.from({ length: N }, () => crypto.randomBytes(20));
  const recs = digests.map((_, i) => rec(i));
  let t = performance.now();
  await Promise.all(digests.map((d, i) => store.put(d, recs[i]!)));
  const putAll = N / ((performance.now() - t) / 1000);
  // overwrite in chunks of 1000 awaited
  t = performance.now();
  for (let c = 0; c < N; c += 1000) { const ps = []; for (let i = c; i < c + 1000; i++) ps.push(store.put(digests[i]!, recs[i]!)); await Promise.all(ps); }
  const putChunk = N / ((performance.now() - t) / 1000);
  // sequential awaited puts (one commit each), 2000 of them
  t = performance.now();
  for (let i = 0; i < 2000; i++) await store.put(digests[i]!, recs[i]!);
  const putSeq = 2000 / ((performance.now() - t) / 1000);
  const order = digests.map((_, i) => (i * 7919) % N);
  const now = Date.now();
  t = performance.now(); let hits = 0;
  for (let r = 0; r < 4; r++) for (const i of order) if (store.get(digests[i]!, now)) hits++;
  const get = (4 * N) / ((performance.now() - t) / 1000);
  t = performance.now(); let c = 0;
  for (let i = 0; i < 1000; i++) c += store.count();
  const countUs = (performance.now() - t) * 1000 / 1000;
  t = performance.now(); let scanned = 0;
  for (let p = 0; p < 4096; p++) for (const _ of store.partitionEntries(p)) scanned++;
  const scan = scanned / ((performance.now() - t) / 1000);
  // expire half via overwrite, then sweep everything
  const past = Math.floor(now / 1000) - CITRUSLEAF_EPOCH_SEC - 10;
  await Promise.all(digests.map((d, i) => i % 2 === 0 ? store.put(d, rec(i, past)) : Promise.resolve()));
  t = performance.now(); let swept = 0, n;
  do { n = await store.sweepExpired(now, 1000); swept += n; } while (n > 0 || store.count() > N / 2 && swept < N);
  const sweep = swept / ((performance.now() - t) / 1000);
  console.log(`${label}: put concurrent ${Math.round(putAll)}/s, put 1000-chunks ${Math.round(putChunk)}/s, put sequential ${Math.round(putSeq)}/s, get ${Math.round(get)}/s (hits ${hits}), count ${countUs.toFixed(1)}µs, scan ${Math.round(scanned)} @ ${Math.round(scan)}/s, sweep ${swept} @ ${Math.round(sweep)}/s`);
}
it("throughput", async () => {
  for (let run = 0; run < 3; run++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shoal-bench-"));
    const env = LmdbEnvironment.open({ path: dir });
    await bench(`lmdb run ${run}`, env.store("bench"));
    await env.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await bench("memory", new MemoryStore());
}, 600_000);
