/**
 * Get/put loop against one local node, our client and the official `aerospike` client side by
 * side (interleaved runs, medians), for orientation until the full workload harness lands.
 *
 *   npm run bench -- [--seconds 5] [--workers 64] [--runs 3] [--records 10000] [--value-bytes 100]
 *                    [--storage lmdb|memory] [--port P (use a running node instead of starting one)]
 *                    [--conns N] [--in-flight N] (our client's connections per node, requests per connection)
 *
 * Each run: `workers` closed-loop workers, each awaiting one request at a time; first a put
 * phase over `records` keys, then a get phase, each `seconds` long. Prints ops/s and p50/p99
 * latency per driver per phase, the median of the runs and the ratio ours/official.
 */
import { spawn, ChildProcess } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { exitOf, stopChild, waitReady } from "./node.js";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Client, Key } from "../client/index.js";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "5" },
    workers: { type: "string", default: "64" },
    runs: { type: "string", default: "3" },
    records: { type: "string", default: "10000" },
    "value-bytes": { type: "string", default: "100" },
    storage: { type: "string", default: "lmdb" },
    port: { type: "string" },
    conns: { type: "string" },
    "in-flight": { type: "string" },
  },
});
const SECONDS = Number(args.seconds);
const WORKERS = Number(args.workers);
const RUNS = Number(args.runs);
const RECORDS = Number(args.records);
const VALUE = "x".repeat(Number(args["value-bytes"]));

interface Driver {
  name: string;
  put(i: number): Promise<unknown>;
  get(i: number): Promise<unknown>;
  close(): Promise<void>;
}

async function ours(port: number): Promise<Driver> {
  const client = await new Client({
    hosts: `127.0.0.1:${port}`,
    ...(args.conns ? { maxConnsPerNode: Number(args.conns) } : {}),
    ...(args["in-flight"] ? { inFlightPerConnMax: Number(args["in-flight"]) } : {}),
  }).connect();
  return {
    name: "shoal client",
    put: (i) => client.put(new Key("test", "bench", i), { v: VALUE }),
    get: (i) => client.get(new Key("test", "bench", i)),
    close: () => client.close(),
  };
}

async function official(port: number): Promise<Driver> {
  const require = createRequire(import.meta.url);
  const Aerospike = require("aerospike");
  const client = await Aerospike.connect({ hosts: [{ addr: "127.0.0.1", port }], log: { level: Aerospike.log.OFF }, maxConnsPerNode: 300 });
  return {
    name: "official client",
    put: (i) => client.put(new Aerospike.Key("test", "bench", i), { v: VALUE }),
    get: (i) => client.get(new Aerospike.Key("test", "bench", i)),
    close: () => client.close(),
  };
}

interface Result { ops: number; p50: number; p99: number; errors: number }

async function phase(fn: (i: number) => Promise<unknown>): Promise<Result> {
  const deadline = performance.now() + SECONDS * 1000;
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const i = next++ % RECORDS;
      const t0 = performance.now();
      try {
        await fn(i);
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: WORKERS }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { ops: latencies.length / elapsed, p50: q(0.5), p99: q(0.99), errors };
}

async function startNode(): Promise<{ port: number; child: ChildProcess; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shoal-bench-"));
  const main = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../server/main.js");
  const config = path.join(dir, "config.json");
  fs.writeFileSync(config, JSON.stringify({ namespaces: { test: { storage: args.storage } } }));
  // Every port free-picked; the node exits when this process's stdin pipe closes (even if killed).
  const child = spawn(process.execPath, [main, "server", "--address", "127.0.0.1", "--service-port", "0", "--http-port", "0",
    "--fabric-port", "0", "--heartbeat-port", "0", "--data-dir", path.join(dir, "data"), "--config", config, "--log-level", "warn"],
  { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, SHOAL_EXIT_WITH_STDIN: "1" } });
  const ready = await waitReady(child, exitOf(child), "node", 30_000);
  return { port: ready.servicePort, child, dir };
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const node = args.port ? undefined : await startNode();
  try {
    await measure(node?.port ?? Number(args.port));
  } finally {
    if (node) {
      await stopChild(node.child);
      fs.rmSync(node.dir, { recursive: true, force: true });
    }
  }
}

async function measure(port: number): Promise<void> {
  console.log(`get/put loop: ${WORKERS} workers, ${SECONDS}s per phase, ${RUNS} interleaved runs, ${RECORDS} keys, ${VALUE.length}-byte values, storage ${args.storage}, node on 127.0.0.1:${port}`);
  const drivers = [await ours(port), await official(port)];
  const results = new Map<string, { put: Result[]; get: Result[] }>(drivers.map((d) => [d.name, { put: [], get: [] }]));
  for (let run = 0; run < RUNS; run++) {
    for (const d of drivers) {
      const put = await phase((i) => d.put(i));
      const get = await phase((i) => d.get(i));
      results.get(d.name)!.put.push(put);
      results.get(d.name)!.get.push(get);
      console.log(`run ${run + 1} ${d.name.padEnd(16)} put ${put.ops.toFixed(0).padStart(7)} ops/s p50 ${put.p50.toFixed(2)} p99 ${put.p99.toFixed(2)} ms err ${put.errors} | get ${get.ops.toFixed(0).padStart(7)} ops/s p50 ${get.p50.toFixed(2)} p99 ${get.p99.toFixed(2)} ms err ${get.errors}`);
    }
  }
  console.log("\nmedians | driver | put ops/s | put p50/p99 ms | get ops/s | get p50/p99 ms");
  const med: Record<string, { put: number; get: number }> = {};
  for (const [name, r] of results) {
    const m = (xs: Result[], k: keyof Result) => median(xs.map((x) => x[k]));
    med[name] = { put: m(r.put, "ops"), get: m(r.get, "ops") };
    console.log(`| ${name} | ${m(r.put, "ops").toFixed(0)} | ${m(r.put, "p50").toFixed(2)} / ${m(r.put, "p99").toFixed(2)} | ${m(r.get, "ops").toFixed(0)} | ${m(r.get, "p50").toFixed(2)} / ${m(r.get, "p99").toFixed(2)} |`);
  }
  const [a, b] = drivers.map((d) => med[d.name]!);
  console.log(`ratio shoal client / official client: put ${(a!.put / b!.put).toFixed(2)}×, get ${(a!.get / b!.get).toFixed(2)}×`);
  for (const d of drivers) await d.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
