/**
 * Goal: real shoal nodes on five separate hosts find each other by multicast DNS alone (no seeds),
 * form one cluster, serve a client, survive a network partition as two independent clusters that
 * each master every partition and serve reads and writes, and merge back into one cluster after
 * the heal, with the records written on each side during the split readable afterwards.
 *
 * Method: a 5-host network-namespace bed (shared/tools/testbed.sh via ./harness.ts, hosts
 * 10.77.0.1..5). Each host runs the BUILT node (`dist/server/main.js server --multicast`, fixed
 * ports 3000..3003, a temp data dir, memory storage, RF 2, `--log-level info`); hosts 1, 3, 5 bind
 * their own address, hosts 2 and 4 bind 0.0.0.0, all advertise `--access-address 10.77.0.I`.
 * The root namespace has no route into the bed (TESTBED.md: it is left untouched), so two small
 * "agents" run inside hosts 1 and 3: Node scripts that listen on a Unix socket (a file path, which
 * crosses network namespaces) and run info commands and client operations (our Client from dist/,
 * a fresh one per request) for the test process. Queries about hosts 1 and 2 go through the agent
 * in host 1, hosts 3, 4, 5 through the agent in host 3, so every query stays on its own side of
 * the partition {1,2} | {3,4,5}. Every wait polls with a bound; formation, split detection, master
 * coverage, merge and the post-merge read-back are timed and printed. Node logs (JSON on stderr)
 * are written to a temp dir, kept (path printed) when a test fails or SHOAL_NETNS_KEEP_LOGS is
 * set. Root only: skipped otherwise.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { computeDigest, partitionId } from "../../client/protocol/index.js";
import { Bed, type BedProcess, netnsSkipReason, REPO_ROOT, sleep, sweepStaleBeds, waitFor } from "./harness.js";

const MAIN = path.join(REPO_ROOT, "dist/server/main.js");
const CLIENT_MODULE = path.join(REPO_ROOT, "dist/client/index.js");
const PROTOCOL_MODULE = path.join(REPO_ROOT, "dist/client/protocol/index.js");

const HOSTS = [1, 2, 3, 4, 5] as const;
const SIDE_A = [1, 2];
const SIDE_B = [3, 4, 5];
const SERVICE_PORT = 3000;
const NS = "test";
const SET = "netns";
const PARTITIONS = 4096;
const RF = 2;
const CLUSTER_NAME = "netns-cluster";

const FORMATION_MS = 15_000; // spawn of the 5 nodes → one cluster of 5
const SETTLE_MS = 10_000; // formation → one master and one prole per partition
const SPLIT_MS = 10_000; // partition → two clusters (2 and 3)
const COVERAGE_MS = 10_000; // split → each side masters all 4096 partitions
const SIDE_OPS_MS = 8_000; // each side serves its writes and reads
const MERGE_MS = 15_000; // heal → one cluster of 5
const READBACK_MS = 15_000; // merge → every record readable
const MAX_SECONDS = 120; // agents exit by themselves after this, whatever happens to the runner
const POLL_MS = 100;

const PRE_KEYS = Array.from({ length: 200 }, (_, i) => `pre-${i}`);
const A_KEYS = Array.from({ length: 50 }, (_, i) => `side-a-${i}`);
const B_KEYS = Array.from({ length: 50 }, (_, i) => `side-b-${i}`);
const binsOf = (key: string): Record<string, string | number> => ({ k: key, n: Number(key.slice(key.lastIndexOf("-") + 1)) });
const pidOf = (key: string): number => partitionId(computeDigest(SET, key));
/** Blanks every SHOAL_* variable of the runner (an empty one counts as unset): no stray SHOAL_SEEDS. */
const NO_SHOAL_ENV: Record<string, string> = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith("SHOAL_")).map((k) => [k, ""]));

// ── the agent: runs inside a host, answers JSON lines on a Unix socket ──────────────────────────

const AGENT_SCRIPT = (clientUrl: string, protocolUrl: string): string => `
import fs from "node:fs";
import net from "node:net";
import { Client, Key } from ${JSON.stringify(clientUrl)};
import { decodeInfoResponse, encodeInfoRequest, FrameDecoder } from ${JSON.stringify(protocolUrl)};
const [sockPath, maxSeconds] = process.argv.slice(2);
setTimeout(() => process.exit(0), Number(maxSeconds) * 1000).unref();
process.on("SIGTERM", () => process.exit(0));

function info(host, port, commands, timeoutMs) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const decoder = new FrameDecoder();
    const timer = setTimeout(() => { s.destroy(); reject(new Error("info " + host + ":" + port + " timed out")); }, timeoutMs);
    s.on("connect", () => s.write(encodeInfoRequest(commands)));
    s.on("data", (chunk) => {
      const frames = decoder.push(chunk);
      if (frames.length) { clearTimeout(timer); s.destroy(); resolve(Object.fromEntries(decodeInfoResponse(frames[0].body))); }
    });
    s.on("error", (err) => { clearTimeout(timer); s.destroy(); reject(err); });
  });
}

const POLICIES = {
  read: { totalTimeoutMs: 2000, maxRetries: 3, sleepBetweenRetriesMs: 100 },
  write: { totalTimeoutMs: 2000, maxRetries: 3, sleepBetweenRetriesMs: 100 },
};
async function withClient(seed, fn) {
  const client = new Client({ hosts: seed, connectTimeoutMs: 1000, policies: POLICIES });
  await client.connect();
  try { return await fn(client); } finally { await client.close(); }
}
const failure = (key, err) => ({ key, ok: false, code: typeof err?.code === "number" ? err.code : null, message: String(err?.message ?? err) });

async function handle(req) {
  switch (req.op) {
    case "info":
      return { value: await info(req.host, req.port, req.commands, req.timeoutMs ?? 1000) };
    case "put":
      return { results: await withClient(req.seed, (c) => Promise.all(req.records.map(async (r) => {
        try { await c.put(new Key(req.ns, req.set, r.key), r.bins); return { key: r.key, ok: true }; }
        catch (err) { return failure(r.key, err); }
      }))) };
    case "get":
      return { results: await withClient(req.seed, (c) => Promise.all(req.keys.map(async (key) => {
        try { const rec = await c.get(new Key(req.ns, req.set, key)); return { key, ok: true, bins: rec.bins }; }
        catch (err) { return failure(key, err); }
      }))) };
    default:
      throw new Error("unknown op " + req.op);
  }
}

try { fs.unlinkSync(sockPath); } catch {}
const server = net.createServer((sock) => {
  let buf = "";
  sock.on("error", () => {});
  sock.on("data", (chunk) => {
    buf += chunk.toString("utf8");
    for (let nl = buf.indexOf("\\n"); nl >= 0; nl = buf.indexOf("\\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const req = JSON.parse(line);
      handle(req).then(
        (res) => sock.write(JSON.stringify({ id: req.id, ok: true, ...res }) + "\\n"),
        (err) => sock.write(JSON.stringify({ id: req.id, ok: false, error: String(err?.message ?? err) }) + "\\n"),
      );
    }
  });
});
server.listen(sockPath, () => process.stdout.write(JSON.stringify({ event: "agent-ready", t: Date.now() }) + "\\n"));
`;

interface AgentReply {
  id: number;
  ok: boolean;
  error?: string;
  value?: Record<string, string>;
  results?: OpResult[];
}

interface OpResult {
  key: string;
  ok: boolean;
  code?: number | null;
  message?: string;
  bins?: Record<string, unknown>;
}

/** The test process's end of an agent's Unix socket: JSON requests matched to replies by id. */
class AgentConn {
  private buf = "";
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: AgentReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  private constructor(private readonly sock: net.Socket, readonly host: number) {
    sock.on("data", (chunk: Buffer) => {
      this.buf += chunk.toString("utf8");
      for (let nl = this.buf.indexOf("\n"); nl >= 0; nl = this.buf.indexOf("\n")) {
        const reply = JSON.parse(this.buf.slice(0, nl)) as AgentReply;
        this.buf = this.buf.slice(nl + 1);
        const p = this.pending.get(reply.id);
        if (!p) continue;
        this.pending.delete(reply.id);
        clearTimeout(p.timer);
        if (reply.ok) p.resolve(reply);
        else p.reject(new Error(`agent ${host}: ${reply.error}`));
      }
    });
    sock.on("error", (err) => this.failAll(err));
    sock.on("close", () => this.failAll(new Error(`agent ${host}: socket closed`)));
  }

  static open(sockPath: string, host: number): Promise<AgentConn> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ path: sockPath }, () => resolve(new AgentConn(sock, host)));
      sock.once("error", reject);
    });
  }

  call(req: Record<string, unknown>, timeoutMs: number): Promise<AgentReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`agent ${this.host}: ${String(req["op"])} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.sock.write(JSON.stringify({ id, ...req }) + "\n");
    });
  }

  close(): void {
    this.sock.destroy();
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }
}

// ── views of the cluster ───────────────────────────────────────────────────────────────────────

interface NodeView {
  readonly host: number;
  readonly size: number;
  readonly key: string;
  /** Replica bitmaps of namespace `test`: [master, prole]. */
  readonly bitmaps: Buffer[];
}

function parseReplicas(value: string): Buffer[] {
  // "<ns>:<regime>,<count>,<b64 master>,<b64 prole>...;<ns>:..."
  for (const part of value.split(";")) {
    const [ns, rest] = part.split(":");
    if (ns !== NS || rest === undefined) continue;
    const [, count, ...b64] = rest.split(",");
    return b64.slice(0, Number(count)).map((b) => Buffer.from(b, "base64"));
  }
  return [];
}

const hasBit = (bitmap: Buffer | undefined, pid: number): boolean => bitmap !== undefined && ((bitmap[pid >> 3] ?? 0) & (0x80 >> (pid & 7))) !== 0;

/** Per partition: how many nodes of `views` claim it as master, and which hosts hold any replica. */
function coverage(views: readonly NodeView[]): { mastered: number; doubleMastered: number; masters: number[]; holders: number[][] } {
  const masters = new Array<number>(PARTITIONS).fill(0);
  const holders = Array.from({ length: PARTITIONS }, () => [] as number[]);
  for (const v of views) {
    for (let pid = 0; pid < PARTITIONS; pid++) {
      if (hasBit(v.bitmaps[0], pid)) masters[pid]!++;
      if (v.bitmaps.some((b) => hasBit(b, pid))) holders[pid]!.push(v.host);
    }
  }
  return {
    mastered: masters.filter((m) => m > 0).length,
    doubleMastered: masters.filter((m) => m > 1).length,
    masters,
    holders,
  };
}

/** Polls `fn` (undefined = not yet) every POLL_MS until it returns a value or `timeoutMs` passes. */
async function pollUntil<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, describeLast: () => string = () => ""): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  let lastErr = "";
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return { value, ms: Date.now() - t0 };
      lastErr = "";
    } catch (err) {
      lastErr = (err as Error).message;
    }
    if (Date.now() - t0 >= timeoutMs) {
      throw new Error(`timeout after ${timeoutMs} ms waiting for ${what}; last: ${describeLast()} ${lastErr}`);
    }
    await sleep(POLL_MS);
  }
}

const skipReason = netnsSkipReason();

describe.skipIf(skipReason !== undefined)(`shoal cluster across 5 network namespaces${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let bed: Bed | undefined;
  let workDir = "";
  let logDir = "";
  let failed = false;
  const nodes = new Map<number, BedProcess>();
  const agentProcs: BedProcess[] = [];
  const agents = new Map<number, AgentConn>();
  const logStreams: fs.WriteStream[] = [];
  const timings: Record<string, number> = {};

  /** The agent that reaches host i from i's side of the partition. */
  const agentFor = (i: number): AgentConn => agents.get(SIDE_A.includes(i) ? 1 : 3)!;

  async function viewOf(i: number): Promise<NodeView> {
    const reply = await agentFor(i).call({ op: "info", host: `10.77.0.${i}`, port: SERVICE_PORT, commands: ["cluster-size", "cluster-key", "replicas"], timeoutMs: 1000 }, 3000);
    const v = reply.value!;
    return { host: i, size: Number(v["cluster-size"]), key: v["cluster-key"] ?? "", bitmaps: parseReplicas(v["replicas"] ?? "") };
  }

  const viewsOf = (hosts: readonly number[]): Promise<NodeView[]> => Promise.all(hosts.map((i) => viewOf(i)));

  const showViews = (views: readonly NodeView[]): string => views.map((v) => `n${v.host}: size=${v.size} key=${v.key} masters=${coverage([v]).mastered}`).join("; ");

  /** Resolves with the common cluster key once every host in `hosts` reports size `size` and that key. */
  async function waitForCluster(hosts: readonly number[], size: number, timeoutMs: number, notKeys: readonly string[] = []): Promise<{ key: string; ms: number }> {
    let last: NodeView[] = [];
    const { value, ms } = await pollUntil(`a cluster of ${size} on hosts ${hosts.join(",")}`, timeoutMs, async () => {
      const views = (last = await viewsOf(hosts));
      const keys = new Set(views.map((v) => v.key));
      const key = views[0]!.key;
      const ok = views.every((v) => v.size === size) && keys.size === 1 && key !== "0" && !notKeys.includes(key);
      return ok ? key : undefined;
    }, () => showViews(last));
    return { key: value, ms };
  }

  /**
   * Waits until the nodes of `hosts`, all in the cluster `key`, together master every partition
   * exactly once (and, if `exact`, hold exactly min(RF, size) copies of each).
   */
  async function waitForCoverage(hosts: readonly number[], key: string, timeoutMs: number, exact: boolean): Promise<{ views: NodeView[]; ms: number }> {
    let last = "";
    const { value, ms } = await pollUntil(`every partition mastered once on hosts ${hosts.join(",")}`, timeoutMs, async () => {
      const views = await viewsOf(hosts);
      const c = coverage(views);
      const copies = c.holders.filter((h) => h.length === Math.min(RF, hosts.length)).length;
      last = `mastered=${c.mastered} doubleMastered=${c.doubleMastered} withRfCopies=${copies}; ${showViews(views)}`;
      const ok = views.every((v) => v.key === key) && c.mastered === PARTITIONS && c.doubleMastered === 0 && (!exact || copies === PARTITIONS);
      return ok ? views : undefined;
    }, () => last);
    return { views: value, ms };
  }

  async function put(agentHost: number, seed: number, keys: readonly string[]): Promise<OpResult[]> {
    const reply = await agents.get(agentHost)!.call({
      op: "put", seed: `10.77.0.${seed}:${SERVICE_PORT}`, ns: NS, set: SET, records: keys.map((key) => ({ key, bins: binsOf(key) })),
    }, 15_000);
    return reply.results!;
  }

  async function get(agentHost: number, seed: number, keys: readonly string[]): Promise<OpResult[]> {
    const reply = await agents.get(agentHost)!.call({ op: "get", seed: `10.77.0.${seed}:${SERVICE_PORT}`, ns: NS, set: SET, keys }, 15_000);
    return reply.results!;
  }

  /** Writes `keys` through a client seeded at `seed` (run in host `agentHost`), retrying the failures until all succeed. */
  async function putAll(what: string, agentHost: number, seed: number, keys: readonly string[], timeoutMs: number): Promise<number> {
    let todo = [...keys];
    let last = "";
    const { ms } = await pollUntil(what, timeoutMs, async () => {
      const results = await put(agentHost, seed, todo);
      const bad = results.filter((r) => !r.ok);
      todo = bad.map((r) => r.key);
      last = bad.length ? `${bad.length} failed, e.g. ${bad[0]!.key}: ${bad[0]!.code} ${bad[0]!.message}` : "";
      return bad.length === 0 ? true : undefined;
    }, () => last);
    return ms;
  }

  /** Reads `keys` until every one is found with the bins it was written with. */
  async function readAll(what: string, agentHost: number, seed: number, keys: readonly string[], timeoutMs: number): Promise<number> {
    let todo = [...keys];
    let last = "";
    const { ms } = await pollUntil(what, timeoutMs, async () => {
      const results = await get(agentHost, seed, todo);
      const bad = results.filter((r) => !r.ok || JSON.stringify(r.bins) !== JSON.stringify(binsOf(r.key)));
      todo = bad.map((r) => r.key);
      last = bad.length ? `${bad.length}/${keys.length} not readable, e.g. ${bad[0]!.key}: ${bad[0]!.ok ? JSON.stringify(bad[0]!.bins) : `${bad[0]!.code} ${bad[0]!.message}`}` : "";
      return bad.length === 0 ? true : undefined;
    }, () => last);
    return ms;
  }

  beforeAll(async () => {
    sweepStaleBeds();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "shoal-netns-cluster-"));
    logDir = path.join(workDir, "logs");
    fs.mkdirSync(logDir);
    const agentFile = path.join(workDir, "agent.mjs");
    fs.writeFileSync(agentFile, AGENT_SCRIPT(pathToFileURL(CLIENT_MODULE).href, pathToFileURL(PROTOCOL_MODULE).href));
    const configFile = path.join(workDir, "shoal.json");
    fs.writeFileSync(configFile, JSON.stringify({ namespaces: { [NS]: { storage: "memory", replicationFactor: RF } } }));
    for (const f of [MAIN, CLIENT_MODULE, PROTOCOL_MODULE]) {
      if (!fs.existsSync(f)) throw new Error(`${f} missing: build first (npx tsc -p tsconfig.json)`);
    }

    const tUp = Date.now();
    bed = new Bed().up(HOSTS.length);
    timings["bed up"] = Date.now() - tUp;

    // Agents first (they only listen), then the five nodes at once: formation is timed from here.
    for (const i of [1, 3]) {
      agentProcs.push(bed.spawn(i, process.execPath, [agentFile, path.join(workDir, `agent${i}.sock`), String(MAX_SECONDS)]));
    }
    const tSpawn = Date.now();
    for (const i of HOSTS) {
      const dataDir = path.join(workDir, `data${i}`);
      fs.mkdirSync(dataDir);
      const proc = bed.spawn(i, process.execPath, [
        MAIN, "server",
        "--address", i % 2 === 1 ? `10.77.0.${i}` : "0.0.0.0",
        "--access-address", `10.77.0.${i}`,
        "--service-port", String(SERVICE_PORT), "--fabric-port", String(SERVICE_PORT + 1),
        "--heartbeat-port", String(SERVICE_PORT + 2), "--http-port", String(SERVICE_PORT + 3),
        "--data-dir", dataDir, "--config", configFile,
        "--multicast", "--cluster-name", CLUSTER_NAME, "--log-level", "info",
      ], { env: NO_SHOAL_ENV });
      const log = fs.createWriteStream(path.join(logDir, `n${i}.log`));
      logStreams.push(log);
      proc.child.stderr!.on("data", (chunk: Buffer) => log.write(chunk));
      nodes.set(i, proc);
    }
    for (const [i, p] of agentProcs.map((p) => [p.host, p] as const)) {
      await waitFor(() => p.events.some((e) => e["event"] === "agent-ready") || p.child.exitCode !== null, 10_000, 20, `agent ${i} ready`);
      if (p.child.exitCode !== null) throw new Error(`agent ${i} exited: ${p.stderrText}`);
      agents.set(i, await AgentConn.open(path.join(workDir, `agent${i}.sock`), i));
    }
    await waitFor(() => [...nodes.values()].every((p) => p.events.some((e) => e["event"] === "ready") || p.child.exitCode !== null), FORMATION_MS, 20, "every node's ready line");
    for (const [i, p] of nodes) {
      if (p.child.exitCode !== null) throw new Error(`node ${i} exited with ${p.child.exitCode}: ${p.stderrText.slice(-4000)}`);
    }
    timings["spawn → all 5 ready lines"] = Date.now() - tSpawn;
    timings["spawn epoch"] = tSpawn;
  }, 40_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === "fail") failed = true;
  });

  afterAll(async () => {
    for (const a of agents.values()) a.close();
    // Children by PID (SIGTERM, SIGKILL after the grace), then the namespaces.
    for (const p of [...nodes.values(), ...agentProcs]) bed?.kill(p, "SIGTERM");
    await bed?.down();
    await Promise.all(logStreams.map((s) => new Promise<void>((resolve) => s.end(resolve))));
    const { ["spawn epoch"]: _epoch, ...shown } = timings;
    console.log(`[netns cluster] timings (ms): ${JSON.stringify(shown)}`);
    if (!workDir) return;
    if (failed || process.env["SHOAL_NETNS_KEEP_LOGS"]) {
      console.log(`[netns cluster] ${failed ? "a test failed: " : ""}node logs kept in ${logDir} (nodes spawned at ${timings["spawn epoch"]})`);
      for (const f of ["data1", "data2", "data3", "data4", "data5", "agent1.sock", "agent3.sock"]) fs.rmSync(path.join(workDir, f), { recursive: true, force: true });
    } else {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  }, 30_000);

  let fullKey = "";
  /** Hosts holding a replica of each partition while the 5-node cluster is settled. */
  let holders: number[][] = [];

  it("forms one cluster of 5 by multicast discovery alone, within 15 s", async () => {
    const remaining = FORMATION_MS - (Date.now() - timings["spawn epoch"]!);
    const { key } = await waitForCluster(HOSTS, 5, Math.max(remaining, 0));
    fullKey = key;
    timings["formation (spawn → size 5, one key)"] = Date.now() - timings["spawn epoch"]!;
    console.log(`[netns cluster] formed: key ${key} in ${timings["formation (spawn → size 5, one key)"]} ms from spawn`);
    expect(timings["formation (spawn → size 5, one key)"]).toBeLessThanOrEqual(FORMATION_MS);

    // Rebalanced: every partition has exactly one master and RF copies among the five.
    const settled = await waitForCoverage(HOSTS, fullKey, SETTLE_MS, true);
    timings["formation → settled (1 master, 2 copies per partition)"] = settled.ms;
    holders = coverage(settled.views).holders;
  }, FORMATION_MS + SETTLE_MS + 5_000);

  it("serves writes and reads through our client", async () => {
    timings["write 200 records"] = await putAll("200 writes via 10.77.0.1", 1, 1, PRE_KEYS, 8_000);
    timings["read back 200 records (other seed)"] = await readAll("200 reads via 10.77.0.4", 3, 4, PRE_KEYS, 8_000);
    // The map the keys were written under is still the one we recorded.
    const views = await viewsOf(HOSTS);
    expect(views.every((v) => v.key === fullKey)).toBe(true);
    expect(coverage(views).holders).toEqual(holders);
  }, 20_000);

  let keyA = "";
  let keyB = "";

  it("splits into two clusters {1,2} and {3,4,5} that each master every partition and serve reads and writes", async () => {
    bed!.partition(SIDE_A, SIDE_B);
    const tPartition = Date.now();
    const [a, b] = await Promise.all([
      waitForCluster(SIDE_A, 2, SPLIT_MS, [fullKey]),
      waitForCluster(SIDE_B, 3, SPLIT_MS, [fullKey]),
    ]);
    keyA = a.key;
    keyB = b.key;
    timings["split detection {1,2} (partition → size 2)"] = a.ms;
    timings["split detection {3,4,5} (partition → size 3)"] = b.ms;
    expect(keyA).not.toBe(keyB);

    // Each side masters all 4096 partitions (an AP cluster takes over the other side's partitions).
    const coveredAt = async (side: readonly number[], key: string) => {
      const cov = await waitForCoverage(side, key, COVERAGE_MS, false);
      return { ...cov, sincePartition: Date.now() - tPartition };
    };
    const [covA, covB] = await Promise.all([coveredAt(SIDE_A, keyA), coveredAt(SIDE_B, keyB)]);
    timings["partition → {1,2} masters 4096"] = covA.sincePartition;
    timings["partition → {3,4,5} masters 4096"] = covB.sincePartition;
    for (const [side, cov] of [[SIDE_A, covA], [SIDE_B, covB]] as const) {
      const c = coverage(cov.views);
      expect(c.mastered, `side ${side.join(",")} masters every partition`).toBe(PARTITIONS);
      expect(c.doubleMastered, `side ${side.join(",")}: no partition has two masters`).toBe(0);
    }

    // Writes on each side, through a client seeded inside that side.
    const tOps = Date.now();
    const [wA, wB] = await Promise.all([
      putAll("side {1,2} writes", 1, 1, A_KEYS, SIDE_OPS_MS),
      putAll("side {3,4,5} writes", 3, 3, B_KEYS, SIDE_OPS_MS),
    ]);
    timings["side {1,2}: 50 writes"] = wA;
    timings["side {3,4,5}: 50 writes"] = wB;

    // Reads on each side: its own new keys, and every old key that had a copy on that side.
    const heldOn = (side: readonly number[]) => (key: string) => holders[pidOf(key)]!.some((h) => side.includes(h));
    const preA = PRE_KEYS.filter(heldOn(SIDE_A));
    const preB = PRE_KEYS.filter(heldOn(SIDE_B));
    await Promise.all([
      readAll("side {1,2} reads", 1, 2, [...A_KEYS, ...preA], SIDE_OPS_MS),
      readAll("side {3,4,5} reads", 3, 5, [...B_KEYS, ...preB], SIDE_OPS_MS),
    ]);
    timings["split: both sides served reads+writes"] = Date.now() - tOps;

    // Old keys with no copy on a side: the side masters their partition (empty), so it answers
    // NOT_FOUND (2) at once; it must not time out or fail otherwise.
    const lostA = PRE_KEYS.filter((k) => !heldOn(SIDE_A)(k));
    const lostB = PRE_KEYS.filter((k) => !heldOn(SIDE_B)(k));
    const [rA, rB] = await Promise.all([get(1, 1, lostA), get(3, 3, lostB)]);
    console.log(`[netns cluster] split: keys ${keyA} (2) / ${keyB} (3); old keys with a copy on {1,2}: ${preA.length}/200, on {3,4,5}: ${preB.length}/200; ` +
      `the others answered ${JSON.stringify(countCodes(rA))} on {1,2}, ${JSON.stringify(countCodes(rB))} on {3,4,5}`);
    for (const r of [...rA, ...rB]) expect(r.ok ? "found" : r.code, `${r.key}: ${r.message ?? ""}`).toBe(2);
    expect(preA.length + lostA.length).toBe(PRE_KEYS.length);
  }, SPLIT_MS + COVERAGE_MS + 2 * SIDE_OPS_MS + 10_000);

  it("merges back into one cluster of 5 after the heal, with every record readable", async () => {
    bed!.unpartition();
    const tHeal = Date.now();
    const merged = await waitForCluster(HOSTS, 5, MERGE_MS, [fullKey, keyA, keyB]);
    timings["merge (heal → size 5, one key)"] = merged.ms;
    console.log(`[netns cluster] merged: key ${merged.key} ${merged.ms} ms after the heal`);

    // Records written on each side during the split, and the old ones, are readable from either side.
    await Promise.all([
      readAll("all records via 10.77.0.2", 1, 2, [...PRE_KEYS, ...A_KEYS, ...B_KEYS], READBACK_MS),
      readAll("all records via 10.77.0.5", 3, 5, [...PRE_KEYS, ...A_KEYS, ...B_KEYS], READBACK_MS),
    ]);
    timings["heal → all 300 records readable"] = Date.now() - tHeal;
    await waitForCoverage(HOSTS, merged.key, SETTLE_MS, true);
    timings["heal → settled (1 master, 2 copies per partition)"] = Date.now() - tHeal;
  }, MERGE_MS + READBACK_MS + SETTLE_MS + 5_000);
});

function countCodes(results: readonly OpResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    const k = r.ok ? "found" : String(r.code);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
