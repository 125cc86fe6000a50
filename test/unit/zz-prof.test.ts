import fs from "node:fs"; import os from "node:os"; import path from "node:path"; import crypto from "node:crypto";
import { it } from "vitest";
import { open } from "lmdb";
import { Packr } from "msgpackr";
import { LmdbEnvironment, recordKey } from "../../server/storage/lmdb-store.js";
import { assertStoredRecord } from "../../server/storage/memory-store.js";
const N = 50_000;
it("prof", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shoal-prof-"));
  const env = LmdbEnvironment.open({ path: dir });
  const store = env.store("bench");
  const digests = Array.from({ length: N }, () => crypto.randomBytes(20));
  await Promise.all(digests.map((d, i) => store.put(d, { generation: 1, lastUpdateMs: 1735732800000 + i, voidTime: 0, setName: "bench",
    userKey: { type: 3, data: Buffer.from(`key-${i}`) }, bins: [{ name: "v", type: 4, data: crypto.randomBytes(100) }] })));
  await env.close();
  const root = open({ path: dir });
  const db = root.openDB<Buffer, Buffer>({ name: "ns/bench", encoding: "binary", keyEncoding: "binary" });
  const keys = digests.map((d) => recordKey(d));
  const packr = new Packr({ useRecords: false });
  const time = (label: string, f: (k: Buffer, d: Buffer) => unknown) => {
    for (let r = 0; r < 2; r++) {
      const t = performance.now();
      for (let i = 0; i < N; i++) f(keys[(i * 7919) % N]!, digests[(i * 7919) % N]!);
      if (r === 1) console.log(label, Math.round(N / ((performance.now() - t) / 1000)));
    }
  };
  time("getBinaryFast", (k) => db.getBinaryFast(k));
  time("recordKey+getBinaryFast", (_k, d) => db.getBinaryFast(recordKey(d)));
  time("getBinaryFast+slice", (k) => { const b = db.getBinaryFast(k)!; return Uint8Array.prototype.slice.call(b, 0, b.length); });
  time("getBinary", (k) => db.getBinary(k));
  time("getBinary+unpack", (k) => packr.unpack(db.getBinary(k)!));
  time("get (copy)", (k) => db.get(k));
  const sample = packr.unpack(db.getBinary(keys[0]!)!) as unknown[];
  const r = { generation: 1, lastUpdateMs: 1, voidTime: 0, setName: "x", bins: [{ name: "v", type: 4, data: Buffer.alloc(3) }] };
  time("assertStoredRecord", () => assertStoredRecord(r));
  time("crypto ripemd", (_k, d) => crypto.createHash("ripemd160").update(d).digest());
  console.log(sample.length);
  await root.close();
  fs.rmSync(dir, { recursive: true, force: true });
}, 600_000);
it("store.get parts", async () => {
  const { partitionId } = await import("../../client/protocol/digest.js");
  const { assertDigest } = await import("../../server/storage/memory-store.js");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shoal-prof-"));
  const env = LmdbEnvironment.open({ path: dir });
  const store = env.store("bench");
  const digests = Array.from({ length: N }, () => crypto.randomBytes(20));
  await Promise.all(digests.map((d, i) => store.put(d, { generation: 1, lastUpdateMs: 1735732800000 + i, voidTime: 0, setName: "bench",
    userKey: { type: 3, data: Buffer.from(`key-${i}`) }, bins: [{ name: "v", type: 4, data: crypto.randomBytes(100) }] })));
  const now = Date.now();
  const time = (label: string, f: (d: Buffer) => unknown) => {
    for (let r = 0; r < 3; r++) {
      const t = performance.now();
      for (let i = 0; i < N; i++) f(digests[(i * 7919) % N]!);
      if (r === 2) console.log(label, Math.round(N / ((performance.now() - t) / 1000)));
    }
  };
  time("store.get", (d) => store.get(d, now));
  const db = (store as any).db;
  time("store db.getBinaryFast", (d) => db.getBinaryFast(recordKey(d)));
  time("store db.getBinary+unpack", (d) => (store as any).packr.unpack(db.getBinary(recordKey(d))));
  time("store.get again", (d) => store.get(d, now));
  time("partitionId", (d) => partitionId(d));
  time("assertDigest", (d) => assertDigest(d));
  time("recordKey", (d) => recordKey(d));
  await env.close();
}, 600_000);
