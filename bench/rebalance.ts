/**
 * Rebalance under load: a local cluster takes one more node while our client runs a closed-loop
 * read/write load; measures how long the rebalance takes, how fast data flows into the new node,
 * what it costs the clients, and how much data moved against the minimum.
 *
 *   npm run bench:rebalance -- [--records 1000000] [--size 100] [--nodes 3] [--rf 2]
 *       [--workers 64] [--rate 0] [--read-percent 90] [--load-concurrency 256] [--warmup-seconds 2]
 *       [--seconds-before 10] [--rebalance-timeout 600] [--stable-ms 2000]
 *       [--timeout-ms 1000] [--socket-timeout-ms 300] [--retries 2] [--conns N] [--in-flight N]
 *       [--storage lmdb|memory] [--log-level info] [--keep-logs DIR] [--node-config JSON]
 *
 * Phases:
 *   1. start `nodes` nodes (every port 0, data dirs under one temp dir, removed at the end), the
 *      first unseeded, the others seeded with it; wait for one settled cluster;
 *   2. load `records` records of `size` bytes (`load-concurrency` puts in flight);
 *   3. closed-loop load, `workers` workers (or open loop at `rate` commands per second),
 *      `read-percent` gets and the rest puts over uniformly random keys: `warmup-seconds`
 *      unmeasured, then the "before" window (`seconds-before`);
 *   4. start one more node seeded with all the others and wait until every node reports
 *      cluster-size N+1, one cluster key, migrate_partitions_remaining=0 and
 *      migrate_partitions_in_progress=0 with unchanged partition-generations for `stable-ms`
 *      (settled = the first poll of that stable stretch), or `rebalance-timeout` seconds; the
 *      client's "during" window runs from the spawn until the settle is confirmed.
 *   5. wait (≤ 15 s) for Σ objects = records × RF, print the figures, stop every node.
 *
 * Our client runs each command through its own executor (client/internal.js) with a router
 * that notes every failed attempt, so a command that failed once (a socket timeout, partition
 * unavailable, ...) and then succeeded on a retry is told apart from one that failed for good.
 * Every node runs with SHOAL_EXIT_WITH_STDIN=1: none outlives this process, even if it crashes.
 * The last line of output is one JSON object with every figure.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  Cluster, Connection, INFO_BODY_BYTES_MAX, Key, KvError, ReadPolicy, Router, WritePolicy, checkResult, defaultReadPolicy,
  defaultWritePolicy, executeCommand, getMessage, parseHosts, parseRecord, putMessage, resolveReadPolicy, resolveWritePolicy,
} from "../client/internal.js";
import { AsMessage, ParticleType, ProtoType, decodeInfoResponse, encodeInfoRequest, encodeMessage } from "../client/protocol/index.js";
import { chunkEntryBytes } from "../server/cluster/migration-chunk.js";
import { encodeRecord } from "../server/storage/record-codec.js";
import { exitOf, type Ready, stopChild, waitReady } from "./node.js";

// ── options ─────────────────────────────────────────────────────────────────────────────────

const { values: args } = parseArgs({
  options: {
    records: { type: "string", default: "1000000" },
    size: { type: "string", default: "100" },
    nodes: { type: "string", default: "3" },
    rf: { type: "string", default: "2" },
    workers: { type: "string", default: "64" },
    rate: { type: "string", default: "0" },
    "read-percent": { type: "string", default: "90" },
    "load-concurrency": { type: "string", default: "256" },
    "warmup-seconds": { type: "string", default: "2" },
    "seconds-before": { type: "string", default: "10" },
    "rebalance-timeout": { type: "string", default: "600" },
    "stable-ms": { type: "string", default: "2000" },
    "timeout-ms": { type: "string", default: "1000" },
    "socket-timeout-ms": { type: "string", default: "300" },
    retries: { type: "string", default: "2" },
    conns: { type: "string" },
    "in-flight": { type: "string" },
    storage: { type: "string", default: "lmdb" },
    "log-level": { type: "string", default: "info" },
    "keep-logs": { type: "string" },
    "node-config": { type: "string" },
  },
  strict: true,
});

function num(name: keyof typeof args, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || v < min || v > max) throw new Error(`--${name} ${String(args[name])}: must be a number in [${min}, ${max}]`);
  return v;
}

const RECORDS = num("records", 1);
const SIZE = num("size", 0, 1_000_000);
const NODES = num("nodes", 1, 32);
const RF = num("rf", 1, 8);
const WORKERS = num("workers", 0, 10_000);
/** Open-loop load: commands started per second whatever the answers (0: the closed loop of WORKERS). */
const RATE = num("rate", 0, 1_000_000);
/** Open loop: commands in flight at most; one due beyond it is counted as an error, not sent. */
const RATE_IN_FLIGHT_MAX = 4096;
const READ_PERCENT = num("read-percent", 0, 100);
const LOAD_CONCURRENCY = num("load-concurrency", 1, 10_000);
const WARMUP_S = num("warmup-seconds", 0);
const BEFORE_S = num("seconds-before", 1);
const REBALANCE_TIMEOUT_S = num("rebalance-timeout", 1);
const STABLE_MS = num("stable-ms", 0);
const STORAGE = args.storage === "memory" ? "memory" : args.storage === "lmdb" ? "lmdb" : (() => { throw new Error("--storage lmdb|memory"); })();

/** Extra node config fields (JSON); `namespace` fields go into the namespace's config. */
const NODE_CONFIG = ((): { namespace?: Record<string, unknown> } & Record<string, unknown> => {
  if (!args["node-config"]) return {};
  const v = JSON.parse(args["node-config"]) as unknown;
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("--node-config must be a JSON object");
  return v as Record<string, unknown>;
})();

const NS = "test";
const SET = "bench";
const POLL_MS = 250;
const PROGRESS_MS = 2000;
const LOAD_TIMEOUT_MS = 1_800_000;

/** Targets from the brief: data into the new node, client p99 during the rebalance, errors. */
const TARGET = { mbps: 25, p99Ms: 10, errors: 0 } as const;

const VALUE = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) VALUE[i] = (i * 131 + 7) & 0xff;

// ── latency histogram ───────────────────────────────────────────────────────────────────────

/**
 * HDR-style log-linear histogram of microseconds: exact below 64 µs, then 64 sub-buckets per
 * power of two (relative error under 1.6 %), up to 2^31 µs (~36 min). Constant memory, O(1)
 * record, so millions of samples cost nothing.
 */
class Histogram {
  private static readonly SUB_BITS = 6;
  private static readonly SUB = 1 << Histogram.SUB_BITS;
  private readonly counts = new Float64Array(Histogram.SUB + (31 - Histogram.SUB_BITS) * Histogram.SUB);
  count = 0;
  private sum = 0;
  max = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const us = Math.min(0x7fffffff, Math.max(0, Math.round(ms * 1000)));
    this.counts[Histogram.index(us)]!++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  private static index(us: number): number {
    if (us < Histogram.SUB) return us;
    const e = 31 - Math.clz32(us);
    const shift = e - Histogram.SUB_BITS;
    return Histogram.SUB + shift * Histogram.SUB + ((us >>> shift) - Histogram.SUB);
  }

  /** Midpoint of a bucket, in µs. */
  private static value(index: number): number {
    if (index < Histogram.SUB) return index;
    const shift = Math.floor((index - Histogram.SUB) / Histogram.SUB);
    const m = Histogram.SUB + ((index - Histogram.SUB) % Histogram.SUB);
    return (m * 2 ** shift) + (2 ** shift - 1) / 2;
  }

  /** The latency (ms) at quantile q in [0, 1]; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(Histogram.value(i) / 1000, this.max);
    }
    return this.max;
  }

  get mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count;
  }
}

// ── per-window client figures ───────────────────────────────────────────────────────────────

class Window {
  readonly read = new Histogram();
  readonly write = new Histogram();
  /** Final failures by "read|write kind". */
  readonly errors = new Map<string, number>();
  /** Commands that succeeded after failed attempts, by "read|write kind of the first failure". */
  readonly recovered = new Map<string, number>();
  startMs = performance.now();
  endMs: number | undefined;

  constructor(readonly name: string) {}

  get seconds(): number {
    return ((this.endMs ?? performance.now()) - this.startMs) / 1000;
  }
  get errorCount(): number {
    return sum(this.errors.values());
  }
  get recoveredCount(): number {
    return sum(this.recovered.values());
  }
  get opsPerSec(): number {
    return (this.read.count + this.write.count) / this.seconds;
  }

  summary(): Record<string, unknown> {
    const lat = (h: Histogram) => ({ ops: h.count, opsPerSec: round(h.count / this.seconds, 1), p50Ms: round(h.quantile(0.5), 3), p99Ms: round(h.quantile(0.99), 3), p999Ms: round(h.quantile(0.999), 3), maxMs: round(h.max, 3) });
    return {
      seconds: round(this.seconds, 3), opsPerSec: round(this.opsPerSec, 1), read: lat(this.read), write: lat(this.write),
      errors: this.errorCount, errorKinds: Object.fromEntries(this.errors), recoveredOnRetry: this.recoveredCount, recoveredKinds: Object.fromEntries(this.recovered),
    };
  }
}

const sum = (xs: Iterable<number>): number => {
  let s = 0;
  for (const x of xs) s += x;
  return s;
};
const round = (x: number, digits: number): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
const bump = (m: Map<string, number>, k: string, by = 1): void => void m.set(k, (m.get(k) ?? 0) + by);
const fmt = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : "n/a");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function kindOf(err: unknown): string {
  if (err instanceof KvError) {
    let detail = "";
    if (/^client timeout: no reply/.test(err.message)) detail = " client, no reply";
    else if (/^client timeout: node .* no free connection/.test(err.message)) detail = " client, no free connection";
    else if (/^client timeout/.test(err.message)) detail = " client";
    return `${err.name}(${err.code}${detail})`;
  }
  return err instanceof Error ? err.name : String(err);
}

// ── nodes ───────────────────────────────────────────────────────────────────────────────────


const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) if (child.pid !== undefined) try { process.kill(child.pid, "SIGKILL"); } catch { /* gone */ }
});

class NodeProc {
  readonly exited: Promise<string>;
  constructor(readonly index: number, readonly child: ChildProcess, readonly ready: Ready, readonly logFile: string, exited: Promise<string>) {
    this.exited = exited;
  }
  get port(): number {
    return this.ready.servicePort;
  }
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}

let root = "";
/** The server entry point the nodes run: a copy of dist/ taken at start (see snapshotDist). */
let serverMain = "";

/**
 * Copies dist/server and dist/client into the temp dir (with package.json and a node_modules
 * symlink so that imports resolve) and returns the copied main.js. dist/ is shared with whoever
 * else builds in this checkout; without the copy a node started minutes later (the joining one)
 * could run different code than the others.
 */
function snapshotDist(): string {
  const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const repo = path.resolve(dist, "..");
  for (const d of ["server", "client"]) fs.cpSync(path.join(dist, d), path.join(root, "dist", d), { recursive: true });
  fs.copyFileSync(path.join(repo, "package.json"), path.join(root, "package.json"));
  fs.symlinkSync(path.join(repo, "node_modules"), path.join(root, "node_modules"), "dir");
  return path.join(root, "dist/server/main.js");
}

/** `git describe` and the changed files of the checkout, for the record; "" without git. */
function sourceVersion(): string {
  try {
    const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
    const run = (...a: string[]) => execFileSync("git", ["-C", repo, ...a], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const dirty = run("status", "--porcelain", "--", "server", "client").split("\n").filter(Boolean).map((l) => l.slice(3));
    return `${run("describe", "--always", "--dirty").trim()}${dirty.length ? ` (changed: ${dirty.join(" ")})` : ""}`;
  } catch {
    return "";
  }
}

async function startNode(index: number, seeds: readonly NodeProc[]): Promise<NodeProc> {
  const dir = path.join(root, `node-${index}`);
  fs.mkdirSync(dir, { recursive: true });
  const config = path.join(dir, "config.json");
  const { namespace, ...top } = NODE_CONFIG;
  fs.writeFileSync(config, JSON.stringify({ ...top, namespaces: { [NS]: { storage: STORAGE, replicationFactor: RF, ...namespace } } }));
  const argv = [serverMain, "server", "--address", "127.0.0.1", "--service-port", "0", "--fabric-port", "0", "--heartbeat-port", "0",
    "--http-port", "0", "--data-dir", path.join(dir, "data"), "--config", config, "--log-level", args["log-level"]!, "--no-multicast"];
  if (seeds.length > 0) argv.push("--seeds", seeds.map((s) => `127.0.0.1:${s.ready.heartbeatPort}`).join(","));
  const child = spawn(process.execPath, argv, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, SHOAL_EXIT_WITH_STDIN: "1" } });
  live.add(child);
  const logFile = path.join(root, `node-${index}.log`);
  const log = fs.createWriteStream(logFile);
  child.stderr!.pipe(log);
  const exited = exitOf(child);
  void exited.then(() => live.delete(child));
  const ready = await waitReady(child, exited, `node ${index}`, 30_000, () => `; log ${logFile}:\n${tail(logFile)}`);
  return new NodeProc(index, child, ready, logFile, exited);
}

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

// ── info ────────────────────────────────────────────────────────────────────────────────────

async function info(port: number, commands: string[], timeoutMs = 5000): Promise<Map<string, string>> {
  const conn = await Connection.connect({ host: "127.0.0.1", port, connectTimeoutMs: 2000, bodyBytesMax: INFO_BODY_BYTES_MAX });
  try {
    const frame = await conn.request(encodeInfoRequest(commands), ProtoType.INFO, false, timeoutMs);
    return decodeInfoResponse(frame.body);
  } finally {
    conn.destroy();
  }
}

/** One node's `statistics` (as strings) plus its partition-generation, or undefined if it did not answer. */
type Stats = Record<string, string>;

async function nodeStats(n: NodeProc): Promise<Stats | undefined> {
  try {
    const m = await info(n.port, ["statistics", "partition-generation"]);
    const s: Stats = {};
    for (const kv of (m.get("statistics") ?? "").split(";")) {
      const i = kv.indexOf("=");
      if (i > 0) s[kv.slice(0, i)] = kv.slice(i + 1);
    }
    s["partition-generation"] = m.get("partition-generation") ?? "";
    return s;
  } catch {
    return undefined;
  }
}

const stat = (s: Stats | undefined, k: string): number => Number(s?.[k] ?? NaN);

/** Every node answered, with `size` members, one cluster key, no migration left or running. */
function settled(all: ReadonlyArray<Stats | undefined>, size: number): boolean {
  return all.every((s) => s !== undefined && stat(s, "cluster-size") === size && stat(s, "migrate_partitions_remaining") === 0 &&
    stat(s, "migrate_partitions_in_progress") === 0) && new Set(all.map((s) => s!["cluster-key"])).size === 1;
}

/**
 * Polls until `settled` holds with unchanged partition-generations for STABLE_MS; resolves with
 * the time of the first poll of that stretch and the stats then, or undefined at the deadline.
 */
async function waitSettled(
  nodes: readonly NodeProc[], deadlineMs: number, onPoll?: (all: ReadonlyArray<Stats | undefined>, at: number) => void,
): Promise<{ at: number; stats: Stats[] } | undefined> {
  let first: { at: number; stats: Stats[]; gens: string } | undefined;
  while (performance.now() < deadlineMs) {
    checkInterrupted();
    for (const n of nodes) if (!n.alive) throw new Error(`node ${n.index} (${n.ready.nodeId}) exited; log tail:\n${tail(n.logFile)}`);
    const at = performance.now();
    const all = await Promise.all(nodes.map(nodeStats));
    onPoll?.(all, at);
    if (settled(all, nodes.length)) {
      const gens = all.map((s) => s!["partition-generation"]).join(",");
      if (first?.gens !== gens) first = { at, stats: all as Stats[], gens };
      if (performance.now() - first.at >= STABLE_MS) return { at: first.at, stats: first.stats };
    } else {
      first = undefined;
    }
    await sleep(POLL_MS);
  }
  return undefined;
}

// ── client ──────────────────────────────────────────────────────────────────────────────────

interface Outcome {
  /** Undefined on success, else the final error's kind. */
  error?: string;
  /** Kinds of the attempts that failed before the last one. */
  failedAttempts: string[];
}

/** One command that failed for good: when, which partition, and each attempt's node and end. */
interface FailedCommand {
  /** ms since the bench started (performance.now()). */
  startMs: number;
  op: "read" | "write";
  pid: number;
  attempts: Array<{ node: string; endMs: number; kind: string }>;
}
/** The failed commands kept for the report (the first ones; the count is in the windows). */
const FAILED_KEPT_MAX = 200;

class Driver {
  /** Node id of the joining node once it is up: server answers are tagged "@new node" / "@old node". */
  newNodeId: string | undefined;
  /** The first FAILED_KEPT_MAX commands that failed for good, attempt by attempt. */
  readonly failedCommands: FailedCommand[] = [];
  private readonly readPolicy: ReadPolicy;
  private readonly writePolicy: WritePolicy;

  constructor(readonly cluster: Cluster) {
    const base = { totalTimeoutMs: num("timeout-ms", 0), socketTimeoutMs: num("socket-timeout-ms", 0), maxRetries: num("retries", 0, 100) };
    this.readPolicy = resolveReadPolicy(defaultReadPolicy(), base);
    // Our puts write the same value again, so retrying them is safe: same retries as reads.
    this.writePolicy = resolveWritePolicy(defaultWritePolicy(), base);
  }

  get(i: number): Promise<Outcome> {
    const key = new Key(NS, SET, i);
    return this.run(key, false, getMessage(key, undefined, this.readPolicy), this.readPolicy, (reply, node) => {
      checkResult(reply, false, node);
      return parseRecord(key, reply, Date.now());
    });
  }

  put(i: number): Promise<Outcome> {
    const key = new Key(NS, SET, i);
    return this.run(key, true, putMessage(key, { v: VALUE }, undefined, this.writePolicy), this.writePolicy, (reply, node) => checkResult(reply, true, node));
  }

  private async run(key: Key, isWrite: boolean, msg: AsMessage, policy: ReadPolicy | WritePolicy, parse: (reply: AsMessage, node: string) => unknown): Promise<Outcome> {
    const failed: string[] = [];
    const attempts: FailedCommand["attempts"] = [];
    const startMs = performance.now();
    const cluster = this.cluster;
    let answeredBy: string | undefined;
    const router: Router = {
      nodeFor(ns, pid, replica, attempt) {
        answeredBy = undefined;
        const pool = cluster.nodeFor(ns, pid, replica, attempt);
        if (!pool) {
          failed.push("InvalidNodeError(no node)");
          return undefined;
        }
        return {
          name: pool.name,
          request: (frame, type, w, timeoutMs) => pool.request(frame, type, w, timeoutMs).then((reply) => {
            attempts.push({ node: pool.name, endMs: performance.now(), kind: "reply" });
            return reply;
          }, (err: unknown) => {
            failed.push(kindOf(err));
            attempts.push({ node: pool.name, endMs: performance.now(), kind: kindOf(err) });
            throw err;
          }),
        };
      },
    };
    const spec = {
      key, isWrite, replica: policy.replica, frame: encodeMessage(msg),
      parse: (reply: AsMessage, node: string) => {
        try {
          return parse(reply, node);
        } catch (err) {
          answeredBy = node;
          failed.push(kindOf(err));
          throw err;
        }
      },
    };
    try {
      await executeCommand(router, spec, policy);
      return { failedAttempts: failed };
    } catch (err) {
      // A result code from a node (not a client-side failure): say which side of the join answered.
      const where = answeredBy === undefined || this.newNodeId === undefined ? "" : answeredBy === this.newNodeId ? " @new node" : " @old node";
      if (this.failedCommands.length < FAILED_KEPT_MAX) this.failedCommands.push({ startMs, op: isWrite ? "write" : "read", pid: key.partitionId, attempts });
      return { error: `${kindOf(err)}${where}`, failedAttempts: failed };
    }
  }
}

// ── phases ──────────────────────────────────────────────────────────────────────────────────

let interrupted = false;
function checkInterrupted(): void {
  if (interrupted) throw new Error("interrupted (SIGINT)");
}

/** Attempts per record during the load: a loader must leave every key present. */
const LOAD_ATTEMPTS = 20;

/**
 * Puts every key once, `load-concurrency` at a time. A put that fails is tried again (up to
 * LOAD_ATTEMPTS, 100 ms apart); failed attempts are counted in the window's errors, keys that
 * never made it in `missing` (their reads later fail with RecordNotFoundError).
 */
async function load(driver: Driver): Promise<{ w: Window; missing: number }> {
  const w = new Window("load");
  let next = 0;
  let done = 0;
  let missing = 0;
  const deadline = performance.now() + LOAD_TIMEOUT_MS;
  const progress = setInterval(() => {
    console.log(`  loaded ${done.toLocaleString("en-US")} / ${RECORDS.toLocaleString("en-US")} (${fmt(done / w.seconds, 0)} rec/s, failed attempts ${w.errorCount}, load average ${loadavg()})`);
  }, 10_000);
  try {
    await Promise.all(Array.from({ length: Math.min(LOAD_CONCURRENCY, RECORDS) }, async () => {
      for (let i = next++; i < RECORDS && !interrupted && performance.now() < deadline; i = next++) {
        for (let attempt = 1; ; attempt++) {
          const t0 = performance.now();
          const o = await driver.put(i);
          if (!o.error) {
            w.write.record(performance.now() - t0);
            if (o.failedAttempts.length > 0) bump(w.recovered, `write ${o.failedAttempts[0]}`);
            break;
          }
          bump(w.errors, `write ${o.error}`);
          if (attempt >= LOAD_ATTEMPTS || interrupted) {
            missing++;
            break;
          }
          await sleep(100);
        }
        done++;
      }
    }));
  } finally {
    clearInterval(progress);
  }
  checkInterrupted();
  if (done < RECORDS) throw new Error(`load did not finish in ${LOAD_TIMEOUT_MS / 1000} s`);
  w.endMs = performance.now();
  return { w, missing };
}

/**
 * The mixed load; `window` decides where each command's figures go. Closed loop (`--workers`:
 * each worker awaits its command, so the load follows what the cluster can do, and saturates
 * it), or open loop (`--rate`: commands start on a fixed schedule whatever the answers, latency
 * measured from the scheduled start, so a stall shows in full rather than slowing the load).
 */
class MixedLoad {
  current: Window | undefined;
  interval = new Window("interval");
  private stopped = false;
  private readonly done: Promise<void>;
  private inFlight = 0;

  constructor(private readonly driver: Driver, hardDeadlineMs: number) {
    const running = () => !this.stopped && !interrupted && performance.now() < hardDeadlineMs;
    if (RATE > 0) {
      this.done = (async () => {
        const t0 = performance.now();
        let started = 0;
        const pending = new Set<Promise<void>>();
        while (running()) {
          const due = Math.floor(((performance.now() - t0) / 1000) * RATE);
          for (; started < due; started++) {
            const at = t0 + (started / RATE) * 1000;
            if (this.inFlight >= RATE_IN_FLIGHT_MAX) {
              this.note(Math.random() * 100 < READ_PERCENT, { error: "bench: in-flight cap", failedAttempts: [] }, 0);
              continue;
            }
            const p = this.one(at).finally(() => pending.delete(p));
            pending.add(p);
          }
          await sleep(1);
        }
        await Promise.all(pending);
      })();
      return;
    }
    this.done = Promise.all(Array.from({ length: WORKERS }, async () => {
      while (running()) await this.one(performance.now());
    })).then(() => undefined);
  }

  /** One command, its latency counted from `startMs` (its scheduled start). */
  private async one(startMs: number): Promise<void> {
    const isRead = Math.random() * 100 < READ_PERCENT;
    const i = Math.floor(Math.random() * RECORDS);
    this.inFlight++;
    try {
      const o = await (isRead ? this.driver.get(i) : this.driver.put(i));
      this.note(isRead, o, performance.now() - startMs);
    } finally {
      this.inFlight--;
    }
  }

  private note(isRead: boolean, o: Outcome, ms: number): void {
    const what = isRead ? "read" : "write";
    for (const x of this.current ? [this.current, this.interval] : [this.interval]) {
      if (o.error) bump(x.errors, `${what} ${o.error}`);
      else {
        (isRead ? x.read : x.write).record(ms);
        if (o.failedAttempts.length > 0) bump(x.recovered, `${what} ${o.failedAttempts[0]}`);
      }
    }
  }

  /** Ends the current window and starts `next` (undefined: stop recording). */
  switchTo(next: Window | undefined): void {
    const now = performance.now();
    if (this.current) this.current.endMs = now;
    if (next) next.startMs = now;
    this.current = next;
  }

  /** Returns the interval figures since the last call and starts a new interval. */
  takeInterval(): Window {
    const iv = this.interval;
    iv.endMs = performance.now();
    this.interval = new Window("interval");
    return iv;
  }

  async stop(): Promise<void> {
    this.switchTo(undefined);
    this.stopped = true;
    await this.done;
  }
}

/** Event-loop delay of this (client) process over a window, to tell client stalls from server ones. */
class LoopDelay {
  private h = monitorEventLoopDelay({ resolution: 10 });
  constructor() {
    this.h.enable();
  }
  take(): { p99Ms: number; maxMs: number } {
    const r = { p99Ms: round(this.h.percentile(99) / 1e6, 2), maxMs: round(this.h.max / 1e6, 2) };
    this.h.reset();
    return r;
  }
  close(): void {
    this.h.disable();
  }
}

// ── node logs ───────────────────────────────────────────────────────────────────────────────

interface LogSummary {
  node: number;
  lines: number;
  byLevel: Record<string, number>;
  /** warn/error/fatal messages: count and first line. */
  problems: Array<{ level: string; msg: string; count: number; first: string }>;
  rebalance: string[];
  /** Membership events: clusters installed, peers declared lost (heartbeats missed). */
  clustersInstalled: number;
  peersLost: number;
}

const LEVELS: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };

function summarizeLog(n: NodeProc): LogSummary {
  const out: LogSummary = { node: n.index, lines: 0, byLevel: {}, problems: [], rebalance: [], clustersInstalled: 0, peersLost: 0 };
  const problems = new Map<string, { level: string; msg: string; count: number; first: string }>();
  let text = "";
  try {
    text = fs.readFileSync(n.logFile, "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    out.lines++;
    let level = "raw";
    let msg = line.slice(0, 200);
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string };
      level = LEVELS[j.level ?? 0] ?? String(j.level);
      msg = j.msg ?? "";
    } catch { /* not JSON: a crash trace or console output */ }
    out.byLevel[level] = (out.byLevel[level] ?? 0) + 1;
    if (msg === "cluster installed") out.clustersInstalled++;
    if (msg === "membership peer-lost") out.peersLost++;
    if (/^rebalance (started|finished)/.test(msg)) out.rebalance.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
    if (level === "warn" || level === "error" || level === "fatal" || level === "raw") {
      const k = `${level}|${msg}`;
      const p = problems.get(k);
      if (p) p.count++;
      else problems.set(k, { level, msg, count: 1, first: line.length > 400 ? `${line.slice(0, 400)}…` : line });
    }
  }
  out.problems = [...problems.values()];
  return out;
}

// ── main ────────────────────────────────────────────────────────────────────────────────────

const MB = 1e6;
/** 1-minute load average of the machine: other work on a shared box shows here. */
const loadavg = (): number => round(os.loadavg()[0]!, 2);
const migrateKeys = (s: Stats | undefined): string[] => Object.keys(s ?? {}).filter((k) => /^(migrate_|event_loop_)/.test(k));
/** Levels and rates (their maximum during the rebalance matters), as opposed to counters (their change does). */
const isGauge = (k: string): boolean => /^event_loop_|_per_sec$|_in_progress$|_remaining$/.test(k);

async function main(): Promise<void> {
  process.once("SIGINT", () => {
    interrupted = true;
    console.error("SIGINT: stopping (nodes are stopped and the temp dir removed)");
  });
  root = fs.mkdtempSync(path.join(os.tmpdir(), "shoal-bench-rebalance-"));
  const version = sourceVersion();
  const nodes: NodeProc[] = [];
  let cluster: Cluster | undefined;
  let mixed: MixedLoad | undefined;
  const loop = new LoopDelay();
  let failure: unknown;
  try {
    serverMain = snapshotDist();
    const rf = Math.min(RF, NODES + 1);
    // What one record takes in a migration chunk, the unit of migrate_bytes_* (digest, length, and
    // the record as stored; a few bytes more once generations pass 127).
    const perRecord = chunkEntryBytes({ value: encodeRecord({ generation: 1, lastUpdateMs: Date.now(), voidTime: 0, setName: SET, bins: [{ name: "v", type: ParticleType.BLOB, data: VALUE }] }) });
    console.log(`rebalance bench: ${NODES} nodes + 1, RF ${RF}, ${RECORDS.toLocaleString("en-US")} records × ${SIZE} B (${perRecord} B each in migration chunks), storage ${STORAGE}`);
    console.log(`server: ${version || "?"}, running from a copy of dist/${args["node-config"] ? `; node config ${args["node-config"]}` : ""}`);
    console.log(`load: ${RATE > 0 ? `open loop at ${RATE} commands/s` : `${WORKERS} workers`}, ${READ_PERCENT}% reads, timeout ${args["timeout-ms"]} ms total / ${args["socket-timeout-ms"]} ms per attempt, ${args.retries} retries; ${os.cpus().length} CPUs, load average ${loadavg()}; temp dir ${root}`);

    // 1. cluster
    let t = performance.now();
    nodes.push(await startNode(0, []));
    for (let i = 1; i < NODES; i++) nodes.push(await startNode(i, [nodes[0]!]));
    const formed = await waitSettled(nodes, performance.now() + 60_000);
    if (!formed) throw new Error(`the ${NODES} nodes did not form a settled cluster in 60 s`);
    console.log(`cluster of ${NODES} up and settled in ${fmt((performance.now() - t) / 1000)} s: ${nodes.map((n) => `${n.ready.nodeId}@${n.port}`).join(", ")}`);

    cluster = new Cluster({
      seeds: parseHosts(nodes.map((n) => `127.0.0.1:${n.port}`).join(",")),
      pool: {
        ...(args.conns ? { maxConnsPerNode: num("conns", 1, 1024) } : {}),
        ...(args["in-flight"] ? { inFlightPerConnMax: num("in-flight", 1, 4096) } : {}),
      },
    });
    await cluster.connect();
    t = performance.now();
    while (cluster.nodes().length < NODES || (cluster.health().namespaces[NS]?.partitionsWithoutMaster ?? 1) > 0) {
      if (performance.now() - t > 15_000) throw new Error(`client sees ${cluster.nodes().length} of ${NODES} nodes after 15 s`);
      await sleep(50);
    }
    const driver = new Driver(cluster);

    // 2. load
    const { w: loaded, missing } = await load(driver);
    const present = RECORDS - missing;
    console.log(`loaded ${present.toLocaleString("en-US")} records in ${fmt(loaded.seconds, 1)} s: ${fmt(RECORDS / loaded.seconds, 0)} rec/s, put p50 ${fmt(loaded.write.quantile(0.5))} p99 ${fmt(loaded.write.quantile(0.99))} ms; failed put attempts (tried again) ${loaded.errorCount}${loaded.errorCount ? ` ${JSON.stringify(Object.fromEntries(loaded.errors))}` : ""}; succeeded on a client retry ${loaded.recoveredCount}${missing ? `; ${missing} KEYS MISSING after ${LOAD_ATTEMPTS} attempts (their reads will fail with RecordNotFoundError)` : ""}`);
    const afterLoad = await waitSettled(nodes, performance.now() + 60_000);
    if (!afterLoad) throw new Error("cluster did not settle after the load");
    const objectsBefore = afterLoad.stats.map((s) => stat(s, "objects"));
    console.log(`objects per node: ${objectsBefore.join(", ")} (sum ${sum(objectsBefore)}, expected ${present * Math.min(RF, NODES)})`);

    // 3. before
    const hardDeadline = performance.now() + (WARMUP_S + BEFORE_S + REBALANCE_TIMEOUT_S + 120) * 1000;
    mixed = new MixedLoad(driver, hardDeadline);
    await sleep(WARMUP_S * 1000);
    checkInterrupted();
    const before = new Window("before");
    mixed.switchTo(before);
    loop.take();
    mixed.takeInterval();
    await sleep(BEFORE_S * 1000);
    checkInterrupted();
    const loopBefore = loop.take();
    const loadBefore = loadavg();
    const baseline = await Promise.all(nodes.map(nodeStats));
    if (baseline.some((s) => s === undefined)) throw new Error("a node did not answer statistics before the join");

    // 4. join
    const during = new Window("during");
    mixed.switchTo(during);
    const spawnAt = performance.now();
    const newNode = await startNode(NODES, nodes);
    const readyAt = performance.now();
    nodes.push(newNode);
    driver.newNodeId = newNode.ready.nodeId;
    console.log(`before: ${fmt(before.opsPerSec, 0)} ops/s; node ${newNode.ready.nodeId}@${newNode.port} ready ${fmt(readyAt - spawnAt, 0)} ms after spawn; waiting for the rebalance (≤ ${REBALANCE_TIMEOUT_S} s)`);
    const loopMax = new Map<string, number>();
    const keysSeen = new Set<string>(baseline.map((s) => s!["cluster-key"]!));
    let lastProgress = readyAt;
    let lastBytesIn = 0;
    let peakMbps = 0;
    let lastAll: ReadonlyArray<Stats | undefined> = [];
    const timeline: Array<Record<string, unknown>> = [];
    // The first poll with the moves done everywhere and Σ objects back to records × RF: the old
    // copies are dropped too (they go after the moves: rebalancer.ts holdDrops).
    let copiesDoneAt: number | undefined;
    const done = await waitSettled(nodes, readyAt + REBALANCE_TIMEOUT_S * 1000, (all, at) => {
      lastAll = all;
      if (copiesDoneAt === undefined && settled(all, nodes.length) && sum(all.map((s) => stat(s, "objects"))) === present * rf) copiesDoneAt = at;
      for (const s of all.slice(0, NODES)) if (s?.["cluster-key"]) keysSeen.add(s["cluster-key"]);
      for (const [i, s] of all.entries()) {
        for (const k of migrateKeys(s).filter(isGauge)) {
          const v = stat(s, k);
          if (Number.isFinite(v)) loopMax.set(`${i}:${k}`, Math.max(loopMax.get(`${i}:${k}`) ?? -Infinity, v));
        }
      }
      if (at - lastProgress < PROGRESS_MS) return;
      const bytesIn = stat(all[NODES], "migrate_bytes_received");
      const mbps = Number.isFinite(bytesIn) ? (bytesIn - lastBytesIn) / MB / ((at - lastProgress) / 1000) : NaN;
      if (Number.isFinite(mbps)) {
        peakMbps = Math.max(peakMbps, mbps);
        lastBytesIn = bytesIn;
      }
      const iv = mixed!.takeInterval();
      const row = {
        t: round((at - readyAt) / 1000, 1),
        sizes: all.map((s) => stat(s, "cluster-size")),
        remaining: all.map((s) => stat(s, "migrate_partitions_remaining")),
        inProgress: all.map((s) => stat(s, "migrate_partitions_in_progress")),
        newNodeMB: round(bytesIn / MB, 1), mbps: round(mbps, 1),
        opsPerSec: round(iv.opsPerSec, 0), readP99: round(iv.read.quantile(0.99), 2), writeP99: round(iv.write.quantile(0.99), 2),
        errors: iv.errorCount, recovered: iv.recoveredCount, errorKinds: Object.fromEntries(iv.errors),
      };
      timeline.push(row);
      console.log(`  t+${fmt(row.t, 1)}s size ${row.sizes.join("/")} remaining ${row.remaining.join("/")} in-progress ${row.inProgress.join("/")} | new node ${fmt(row.newNodeMB, 1)} MB in, ${fmt(row.mbps, 1)} MB/s | client ${row.opsPerSec} ops/s, p99 read ${fmt(row.readP99)} write ${fmt(row.writeP99)} ms, errors ${row.errors}, recovered ${row.recovered}`);
      lastProgress = at;
    });
    const settledAt = done?.at ?? performance.now();
    // The client's during window closes now: when the settle is confirmed (settle + stable-ms).
    mixed.switchTo(undefined);
    const loopDuring = loop.take();
    const loadDuring = loadavg();
    await mixed.stop();
    // Old copies are dropped asynchronously after their moves: wait (bounded) until Σ objects is
    // exactly records × RF again, which also shows that nothing was lost or duplicated.
    const dropsFrom = performance.now();
    let final = await Promise.all(nodes.map(nodeStats));
    while (sum(final.map((s) => stat(s, "objects"))) !== present * rf && performance.now() - dropsFrom < 15_000) {
      await sleep(POLL_MS);
      final = await Promise.all(nodes.map(nodeStats));
    }
    const dropsMs = performance.now() - dropsFrom;
    const end = (done?.stats ?? lastAll) as ReadonlyArray<Stats | undefined>;

    // ── figures
    const rebalanceS = (settledAt - readyAt) / 1000;
    const delta = (k: string) => nodes.map((_, i) => stat(end[i], k) - (i < NODES ? stat(baseline[i], k) : 0));
    const bytesIn = stat(end[NODES], "migrate_bytes_received");
    const mbps = bytesIn / MB / rebalanceS;
    const sentBytes = delta("migrate_bytes_sent");
    const sentRecords = delta("migrate_records_sent");
    const moved = sum(sentBytes);
    const movedRecords = sum(sentRecords);
    const totalData = RECORDS * perRecord;
    const optimum = (totalData * rf) / (NODES + 1);
    const optimumRecords = (RECORDS * rf) / (NODES + 1);
    const objectsAfter = final.map((s) => stat(s, "objects"));
    const errorsTotal = before.errorCount + during.errorCount;
    const p99r = during.read.quantile(0.99);
    const p99w = during.write.quantile(0.99);
    const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
    // A kind of command the load did not run (--workers 0, --read-percent 100 or 0) has no p99.
    const p99Verdict = (p99: number) => (Number.isNaN(p99) ? "NONE" : verdict(p99 <= TARGET.p99Ms));
    const checks = {
      mbps: verdict(done !== undefined && mbps >= TARGET.mbps),
      readP99: p99Verdict(p99r),
      writeP99: p99Verdict(p99w),
      errors: verdict(errorsTotal <= TARGET.errors),
      settled: verdict(done !== undefined),
    };

    const line = (w: Window, kind: "read" | "write") => {
      const h = w[kind];
      return `${String(round(h.count / w.seconds, 0)).padStart(8)} ops/s  p50 ${fmt(h.quantile(0.5)).padStart(6)}  p99 ${fmt(h.quantile(0.99)).padStart(7)}  p99.9 ${fmt(h.quantile(0.999)).padStart(7)}  max ${fmt(h.max).padStart(7)} ms`;
    };
    const kinds = (m: Map<string, number>) => (m.size === 0 ? "none" : [...m].map(([k, v]) => `${k} ×${v}`).join(", "));
    console.log("");
    console.log(done ? `rebalance settled ${fmt(rebalanceS)} s after the new node was ready (${fmt((settledAt - spawnAt) / 1000)} s after spawn)`
      : `rebalance did NOT settle within ${REBALANCE_TIMEOUT_S} s; figures below are up to the deadline`);
    console.log(copiesDoneAt !== undefined ? `old copies dropped ${fmt((copiesDoneAt - readyAt) / 1000)} s after the new node was ready (Σ objects = records × RF again, polled)`
      : `old copies not all dropped while polling (Σ objects ≠ records × RF); see "objects per node after"`);
    console.log(`into the new node: ${fmt(bytesIn / MB, 1)} MB, ${stat(end[NODES], "migrate_records_received").toLocaleString("en-US")} records → ${fmt(mbps, 1)} MB/s average (peak ${fmt(peakMbps, 1)} MB/s over ${PROGRESS_MS / 1000} s)`);
    console.log(`moved (Σ migrate_bytes_sent): ${fmt(moved / MB, 1)} MB, ${movedRecords.toLocaleString("en-US")} records; optimum ${fmt(optimum / MB, 1)} MB, ${Math.round(optimumRecords).toLocaleString("en-US")} records (data ${fmt(totalData / MB, 1)} MB × RF ${rf} / ${NODES + 1}) → ${fmt(moved / optimum, 3)}× optimum`);
    console.log(`  per node sent MB: ${sentBytes.map((b) => fmt(b / MB, 1)).join(" / ")}; moves done ${sum(delta("migrate_moves_done"))}, failed ${sum(delta("migrate_moves_failed"))}, partitions dropped ${sum(final.map((s, i) => stat(s, "migrate_partitions_dropped") - (i < NODES ? stat(baseline[i], "migrate_partitions_dropped") : 0)))} (by the end)`);
    console.log(`  cluster keys the old nodes reported while rebalancing: ${keysSeen.size} (2 = the old and the joined cluster only; more = membership changed again)`);
    console.log(`  objects per node after: ${objectsAfter.join(", ")} (sum ${sum(objectsAfter)}, expected ${present * rf}${sum(objectsAfter) === present * rf ? `; reached ${fmt(dropsMs / 1000, 1)} s after the load stopped` : "; NOT reached 15 s after the load stopped"})`);
    console.log("");
    const total = (w: Window) => `${String(round(w.opsPerSec, 0)).padStart(8)} ops/s`;
    const rows: Array<[string, (w: Window) => string]> = [["reads", (w) => line(w, "read")], ["writes", (w) => line(w, "write")], ["total", total]];
    const width = Math.max(...rows.map(([, f]) => f(before).length));
    console.log(`client  | ${`before (${fmt(before.seconds, 1)} s)`.padEnd(width)} | during (${fmt(during.seconds, 1)} s)`);
    for (const [name, f] of rows) console.log(`  ${name.padEnd(6)}| ${f(before).padEnd(width)} | ${f(during)}`);
    console.log(`  bench event-loop delay p99/max: before ${loopBefore.p99Ms}/${loopBefore.maxMs} ms, during ${loopDuring.p99Ms}/${loopDuring.maxMs} ms; machine load average at the end of before ${loadBefore}, of during ${loadDuring} (${os.cpus().length} CPUs)`);
    console.log(`errors: before ${before.errorCount} (${kinds(before.errors)}); during ${during.errorCount} (${kinds(during.errors)})`);
    console.log(`succeeded on retry (not errors): before ${before.recoveredCount} (${kinds(before.recovered)}); during ${during.recoveredCount} (${kinds(during.recovered)})`);
    if (driver.failedCommands.length > 0) {
      // Where and when commands failed for good: which node each attempt went to, relative to the
      // new node's spawn (epoch ms too, to find the moment in the node logs).
      const label = (id: string) => { const i = nodes.findIndex((n) => n.ready.nodeId === id); return i < 0 ? id : `node ${i}`; };
      const epoch = (t: number) => Math.round(performance.timeOrigin + t);
      const byNode = new Map<string, number>();
      for (const f of driver.failedCommands) for (const a of f.attempts) bump(byNode, `${label(a.node)} ${a.kind}`);
      console.log(`failed commands (first ${driver.failedCommands.length}), attempts by node: ${kinds(byNode)}`);
      for (const f of driver.failedCommands.slice(0, 12)) {
        console.log(`  t${f.startMs >= spawnAt ? "+" : ""}${fmt((f.startMs - spawnAt) / 1000, 3)}s (epoch ${epoch(f.startMs)}) ${f.op} p${f.pid}: ${f.attempts.map((a) => `${label(a.node)} ${a.kind} at +${fmt(a.endMs - f.startMs, 0)} ms`).join(", ")}`);
      }
    }
    console.log("");
    console.log("node statistics at settle (migrate_* / event_loop_*; Δ = during the rebalance):");
    const keys = [...new Set(end.flatMap(migrateKeys))].sort();
    for (const k of keys) {
      const vals = nodes.map((_, i) => {
        const v = stat(end[i], k);
        const b = i < NODES ? stat(baseline[i], k) : 0;
        return !isGauge(k) && Number.isFinite(b) && b !== v ? `${v} (Δ${v - b})` : String(end[i]?.[k] ?? "-");
      });
      console.log(`  ${k.padEnd(34)} ${vals.join(" | ")}`);
    }
    const gaugeKeys = [...new Set([...loopMax.keys()].map((k) => k.slice(k.indexOf(":") + 1)))].sort();
    if (gaugeKeys.length > 0) console.log("maximum seen while rebalancing (polled every ~250 ms):");
    for (const k of gaugeKeys) console.log(`  ${k.padEnd(34)} ${nodes.map((_, i) => String(loopMax.get(`${i}:${k}`) ?? "-")).join(" | ")}`);
    const late = nodes.map((_, i) => stat(final[i], "migrate_bytes_sent") - stat(end[i], "migrate_bytes_sent"));
    if (late.some((x) => x !== 0)) console.log(`  NOTE: migrate_bytes_sent changed after settle: ${late.join(" / ")}`);
    console.log("");
    console.log("targets:");
    console.log(`  ${checks.mbps} data into the new node ≥ ${TARGET.mbps} MB/s: ${fmt(mbps, 1)} MB/s${done ? "" : " (did not settle)"}`);
    console.log(`  ${checks.readP99} read p99 during ≤ ${TARGET.p99Ms} ms: ${fmt(p99r)} ms`);
    console.log(`  ${checks.writeP99} write p99 during ≤ ${TARGET.p99Ms} ms: ${fmt(p99w)} ms`);
    console.log(`  ${checks.errors} errors (before + during) = ${TARGET.errors}: ${errorsTotal}`);
    console.log(`  ${checks.settled} rebalance settled within ${REBALANCE_TIMEOUT_S} s`);

    // node logs
    console.log("");
    console.log("node logs:");
    const logs = nodes.map(summarizeLog);
    for (const l of logs) {
      console.log(`  node ${l.node}: ${l.lines} lines ${JSON.stringify(l.byLevel)}; clusters installed ${l.clustersInstalled}, peers lost ${l.peersLost}, rebalance started/finished lines ${l.rebalance.length}${l.rebalance.length > 4 ? " (last 4:)" : ""}`);
      for (const r of l.rebalance.slice(-4)) console.log(`    ${r}`);
      for (const p of l.problems.slice(0, 10)) console.log(`    ${p.level} ×${p.count}: ${p.first}`);
    }

    console.log(JSON.stringify({
      bench: "rebalance",
      config: { source: version, nodeConfig: NODE_CONFIG, nodes: NODES, rf: RF, records: RECORDS, size: SIZE, recordBytes: perRecord, storage: STORAGE, workers: WORKERS, rate: RATE, readPercent: READ_PERCENT, secondsBefore: BEFORE_S, timeoutMs: num("timeout-ms", 0), socketTimeoutMs: num("socket-timeout-ms", 0), retries: num("retries", 0), cpus: os.cpus().length },
      load: { seconds: round(loaded.seconds, 2), recordsPerSec: round(RECORDS / loaded.seconds, 0), putP50Ms: round(loaded.write.quantile(0.5), 3), putP99Ms: round(loaded.write.quantile(0.99), 3), failedAttempts: loaded.errorCount, failedKinds: Object.fromEntries(loaded.errors), recoveredOnRetry: loaded.recoveredCount, missingKeys: missing },
      rebalance: {
        settled: done !== undefined, seconds: round(rebalanceS, 3), spawnToReadyMs: round(readyAt - spawnAt, 0), bytesIntoNewNode: bytesIn, recordsIntoNewNode: stat(end[NODES], "migrate_records_received"),
        mbpsIntoNewNode: round(mbps, 2), peakMbps: round(peakMbps, 2), bytesMoved: moved, recordsMoved: movedRecords, bytesOptimum: round(optimum, 0), recordsOptimum: round(optimumRecords, 0),
        movedOverOptimum: round(moved / optimum, 4), sentBytesPerNode: sentBytes, movesDone: sum(delta("migrate_moves_done")), movesFailed: sum(delta("migrate_moves_failed")),
        clusterKeysSeen: keysSeen.size, objectsPerNode: objectsAfter, objectsExpected: present * rf, objectsConvergedMs: sum(objectsAfter) === present * rf ? round(dropsMs, 0) : null, copiesDroppedS: copiesDoneAt === undefined ? null : round((copiesDoneAt - readyAt) / 1000, 3), nodeCounters: Object.fromEntries(nodes.map((n, i) => [n.ready.nodeId, Object.fromEntries(migrateKeys(end[i]).map((k) => [k, end[i]![k]]))])),
        eventLoopMax: Object.fromEntries(loopMax), timeline,
      },
      client: { before: before.summary(), during: during.summary(), benchEventLoop: { before: loopBefore, during: loopDuring }, loadAverage: { before: loadBefore, during: loadDuring } },
      targets: { mbps: { target: TARGET.mbps, value: round(mbps, 2), result: checks.mbps }, readP99Ms: { target: TARGET.p99Ms, value: round(p99r, 3), result: checks.readP99 }, writeP99Ms: { target: TARGET.p99Ms, value: round(p99w, 3), result: checks.writeP99 }, errors: { target: TARGET.errors, value: errorsTotal, result: checks.errors }, settled: checks.settled },
      failedCommands: driver.failedCommands.slice(0, 20).map((f) => ({
        sinceSpawnMs: round(f.startMs - spawnAt, 0), op: f.op, pid: f.pid,
        attempts: f.attempts.map((a) => ({ node: nodes.findIndex((n) => n.ready.nodeId === a.node), afterMs: round(a.endMs - f.startMs, 0), kind: a.kind })),
      })),
      nodeLogs: logs.map((l) => ({ node: l.node, lines: l.lines, byLevel: l.byLevel, clustersInstalled: l.clustersInstalled, peersLost: l.peersLost, problems: l.problems.map((p) => ({ level: p.level, msg: p.msg, count: p.count })) })),
    }));
  } catch (err) {
    failure = err;
  } finally {
    loop.close();
    await mixed?.stop().catch(() => undefined);
    await cluster?.close().catch(() => undefined);
    if (failure !== undefined) {
      for (const n of nodes) console.error(`--- node ${n.index} log tail (${n.logFile}):\n${tail(n.logFile)}`);
    }
    await Promise.all([...live].map((c) => stopChild(c)));
    if (args["keep-logs"]) {
      fs.mkdirSync(args["keep-logs"], { recursive: true });
      for (const f of fs.readdirSync(root).filter((f) => f.endsWith(".log"))) fs.copyFileSync(path.join(root, f), path.join(args["keep-logs"], f));
      console.error(`node logs copied to ${args["keep-logs"]}`);
    }
    try { fs.unlinkSync(path.join(root, "node_modules")); } catch { /* not made */ }
    fs.rmSync(root, { recursive: true, force: true });
  }
  if (failure !== undefined) throw failure;
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
