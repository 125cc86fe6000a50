/**
 * Test harness: real shoal node processes on 127.0.0.1.
 *
 * Each node is `node dist/server/main.js server` with every port 0 and its own temp data dir;
 * the harness reads the ready line (the CLI contract) to learn the bound ports, and stops nodes
 * by PID (SIGTERM, or SIGKILL for crash tests). Every node started is killed when the test
 * process exits, and temp dirs are removed by `cleanup()`. No fixed ports, no sleeps for startup.
 */
import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { Client } from "../../client/index.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const MAIN = path.join(ROOT, "dist/server/main.js");

export interface ReadyLine {
  event: "ready";
  nodeId: string;
  servicePort: number;
  fabricPort: number;
  heartbeatPort: number;
  httpPort: number;
  dataDir: string;
  pid: number;
}

export interface StartOptions {
  /** Reuse a data dir (restart tests); a fresh temp dir otherwise. */
  dataDir?: string;
  /** Extra CLI flags. */
  args?: string[];
  /** Config file contents (written as JSON into the data dir's parent). */
  config?: object;
  env?: Record<string, string>;
}

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export function tempDir(prefix = "shoal-test-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export class NodeProcess {
  private exit: Promise<number | null>;
  stderr = "";

  constructor(readonly child: ChildProcess, readonly ready: ReadyLine) {
    this.exit = new Promise((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      child.once("exit", (code, signal) => resolve(code ?? (signal ? `signal ${signal}` as unknown as number : null)));
    });
  }

  get servicePort(): number {
    return this.ready.servicePort;
  }
  get nodeId(): string {
    return this.ready.nodeId;
  }
  get dataDir(): string {
    return this.ready.dataDir;
  }
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Graceful stop; resolves with the exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 10_000): Promise<number | null> {
    if (this.alive) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const code = await this.exit;
    clearTimeout(timer);
    live.delete(this.child);
    return code;
  }

  /** Crash: SIGKILL. */
  kill9(): Promise<number | null> {
    return this.stop("SIGKILL");
  }

  exited(): Promise<number | null> {
    return this.exit;
  }
}

/** Starts a node and resolves when it prints its ready line. */
export async function startNode(opts: StartOptions = {}): Promise<NodeProcess> {
  const dataDir = opts.dataDir ?? tempDir();
  const args = [MAIN, "server", "--address", "127.0.0.1", "--service-port", "0", "--http-port", "0",
    "--fabric-port", "0", "--heartbeat-port", "0", "--data-dir", dataDir, "--log-level", "warn"];
  if (opts.config) {
    const file = path.join(tempDir("shoal-config-"), "shoal.json");
    fs.writeFileSync(file, JSON.stringify(opts.config));
    args.push("--config", file);
  }
  args.push(...(opts.args ?? []));
  // stdin is a pipe the node watches (SHOAL_EXIT_WITH_STDIN): if this test process dies, the
  // pipe closes and the node shuts down instead of leaking.
  const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, SHOAL_EXIT_WITH_STDIN: "1", ...opts.env } });
  live.add(child);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 100_000) stderr = stderr.slice(-50_000);
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const ready = await new Promise<ReadyLine>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not become ready in 15 s; stderr:\n${stderr}`)), 15_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as ReadyLine);
      } catch {
        reject(new Error(`bad ready line ${line}`));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code} before ready; stderr:\n${stderr}`));
    });
  });
  const node = new NodeProcess(child, ready);
  child.stderr!.on("data", (d: Buffer) => (node.stderr += d.toString()));
  return node;
}

/** Info commands against a node's service port; resolves with command → value. */
export async function info(port: number, commands: string[]): Promise<Map<string, string>> {
  const { encodeInfoRequest, decodeInfoResponse, FrameDecoder } = await import("../../client/protocol/index.js");
  const s = await rawConnect(port);
  try {
    return await new Promise((resolve, reject) => {
      const decoder = new FrameDecoder();
      const timer = setTimeout(() => reject(new Error(`info ${commands.join(",")} on ${port} timed out`)), 5000);
      s.on("data", (chunk) => {
        const frames = decoder.push(chunk);
        if (frames.length) {
          clearTimeout(timer);
          resolve(decodeInfoResponse(frames[0]!.body));
        }
      });
      s.once("error", reject);
      s.write(encodeInfoRequest(commands));
    });
  } finally {
    s.destroy();
  }
}

/** `statistics` as numbers. */
export async function statistics(port: number): Promise<Record<string, number>> {
  const value = (await info(port, ["statistics"])).get("statistics") ?? "";
  return Object.fromEntries(value.split(";").map((kv) => kv.split("=")).map(([k, v]) => [k!, Number(v)]));
}

/**
 * Starts `n` nodes; the first has no seeds, the others get the first's heartbeat port as their
 * only seed. Resolves when every node reports a cluster of `n`.
 */
export async function startCluster(n: number, opts: StartOptions = {}): Promise<NodeProcess[]> {
  const first = await startNode(opts);
  const rest = await Promise.all(Array.from({ length: n - 1 }, () =>
    startNode({ ...opts, args: [...(opts.args ?? []), "--seeds", `127.0.0.1:${first.ready.heartbeatPort}`] })));
  const nodes = [first, ...rest];
  await waitForClusterSize(nodes, n);
  return nodes;
}

/** Waits until every node in `nodes` reports cluster-size `n` and the same cluster key. */
export async function waitForClusterSize(nodes: NodeProcess[], n: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => {
    const answers = await Promise.all(nodes.map((x) => info(x.servicePort, ["cluster-size", "cluster-key"]).catch(() => undefined)));
    return answers.every((a) => a?.get("cluster-size") === String(n)) && new Set(answers.map((a) => a!.get("cluster-key"))).size === 1;
  }, timeoutMs, `a cluster of ${n}`);
}

/**
 * Waits until no node has migrations left or running and every node's partition-generation stayed
 * the same over two polls: ownership has settled, and a client that tends now sees the final map.
 */
export async function waitForSettled(nodes: NodeProcess[], timeoutMs = 30_000): Promise<void> {
  let last = "";
  await waitFor(async () => {
    const answers = await Promise.all(nodes.map((n) => info(n.servicePort, ["statistics", "partition-generation"]).catch(() => undefined)));
    if (answers.some((a) => a === undefined)) return false;
    const busy = answers.some((a) => /migrate_partitions_(remaining|in_progress)=[1-9]/.test(a!.get("statistics") ?? ""));
    const gens = answers.map((a) => a!.get("partition-generation")).join(",");
    const settled = !busy && gens === last;
    last = gens;
    if (!settled) await new Promise((r) => setTimeout(r, 200));
    return settled;
  }, timeoutMs, "migrations to settle");
}

/** A settled cluster of `n` nodes and our client, seeded with node 0, seeing all of them. */
export async function startClusterWithClient(n: number, opts: StartOptions = {}): Promise<{ nodes: NodeProcess[]; client: Client }> {
  const nodes = await startCluster(n, opts);
  await waitForSettled(nodes);
  const client = await new Client({ hosts: `127.0.0.1:${nodes[0]!.servicePort}` }).connect();
  await waitFor(() => client.nodes().length === n, 10_000, `client to see ${n} nodes`);
  return { nodes, client };
}

/** Closes the client, stops every node, removes temp dirs (afterAll of cluster tests). */
export async function stopClusterWithClient(nodes: NodeProcess[] | undefined, client: Client | undefined): Promise<void> {
  await client?.close();
  await Promise.all((nodes ?? []).map((node) => node.stop()));
  cleanup();
}

/** Runs the CLI to completion (for config error tests). */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    live.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Removes temp dirs made by this process. */
export function cleanup(): void {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Opens a raw TCP socket to a node. */
export function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => resolve(s));
    s.once("error", reject);
  });
}

/** Polls `fn` until it returns a truthy value or the deadline passes. */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
