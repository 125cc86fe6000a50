/**
 * Multi-host test bed for vitest: a TypeScript port of shared/tools/harness.mjs around
 * shared/tools/testbed.sh (network namespaces `<prefix>-n<i>` with address `10.77.0.<i>`, joined
 * by a bridge in `<prefix>-sw`; faults are nftables drops in that bridge; no default route, so
 * nothing leaves the bed). See shared/tools/TESTBED.md for the topology and measured timings.
 *
 * Use:
 *   const skip = netnsSkipReason();                       // undefined when the bed can be built
 *   describe.skipIf(skip !== undefined)(`... ${skip ?? ""}`, () => {
 *     let bed: Bed;
 *     beforeAll(() => { bed = new Bed({ prefix: uniqueBedPrefix() }).up(3); });
 *     afterAll(async () => { await bed?.down(); });     // always: children by PID, then `down`
 *     ...bed.spawn(1, process.execPath, [script]) ...   // JSON lines on stdout → proc.events
 *   });
 *
 * Invariants: every process is started through `testbed.sh exec I`, which execs
 * `ip netns exec <ns> ...` (which execs the program), so `proc.pid` is the program's own PID and
 * is killed by that PID, never by name. Faults are synchronous (`execFileSync`): when the call
 * returns, the rules are in place. Every wait is bounded. Beds are named `shoalp<pid>` so that
 * concurrent runs never collide, and a bed whose creating process is gone is swept by
 * `sweepStaleBeds()`; a bed still up when the test process exits is torn down in an exit hook.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const TESTBED = path.resolve(REPO_ROOT, "../shared/tools/testbed.sh");
/** Prefix of the beds this harness names (`uniqueBedPrefix`); `sweepStaleBeds` only touches these. */
export const BED_PREFIX_STEM = "shoalp";
const SH_TIMEOUT_MS = 30_000;

let cachedSkipReason: string | undefined | null = null;

/**
 * Why this process cannot build a bed, or undefined if it can. Checks Linux, root, the testbed
 * script, `nft` (the bed's fault rules), and that a namespace can really be created (in an
 * unprivileged container `ip netns list` works but `ip netns add` does not). Cached.
 */
export function netnsSkipReason(): string | undefined {
  if (cachedSkipReason !== null) return cachedSkipReason;
  cachedSkipReason = probe();
  return cachedSkipReason;
}

export function canUseNetns(): boolean {
  return netnsSkipReason() === undefined;
}

function probe(): string | undefined {
  if (process.platform !== "linux") return "needs Linux network namespaces";
  if (process.getuid?.() !== 0) return "needs root (ip netns, nft)";
  if (!fs.existsSync(TESTBED)) return `testbed script not found at ${TESTBED}`;
  try {
    execFileSync("ip", ["netns", "list"], { stdio: "ignore", timeout: 5_000 });
  } catch {
    return "`ip netns list` failed (iproute2 missing?)";
  }
  try {
    execFileSync("nft", ["--version"], { stdio: "ignore", timeout: 5_000 });
  } catch {
    return "nft missing (apt-get install nftables)";
  }
  const name = `${BED_PREFIX_STEM}probe${process.pid}`;
  try {
    execFileSync("ip", ["netns", "add", name], { stdio: "ignore", timeout: 5_000 });
  } catch {
    return "`ip netns add` not permitted (no CAP_SYS_ADMIN?)";
  } finally {
    try {
      execFileSync("ip", ["netns", "del", name], { stdio: "ignore", timeout: 5_000 });
    } catch {
      // it was never created
    }
  }
  return undefined;
}

/** A bed name unique to this process (namespace names are global on the machine). */
export function uniqueBedPrefix(): string {
  return `${BED_PREFIX_STEM}${process.pid}`;
}

/** Tears down beds named `shoalp<pid>` whose process is gone (left by a killed earlier run). */
export function sweepStaleBeds(): string[] {
  if (!canUseNetns()) return [];
  let names = "";
  try {
    names = execFileSync("ip", ["netns", "list"], { encoding: "utf8", timeout: 5_000 });
  } catch {
    return [];
  }
  const re = new RegExp(`^(${BED_PREFIX_STEM}(\\d+))-(?:sw|n\\d+)\\b`, "gm");
  const stale = new Set<string>();
  for (const m of names.matchAll(re)) {
    if (!isAlive(Number(m[2]))) stale.add(m[1]!);
  }
  for (const prefix of stale) {
    try {
      execFileSync("bash", [TESTBED, "down"], { env: bedEnv(prefix, "10.77.0"), stdio: "ignore", timeout: SH_TIMEOUT_MS });
    } catch {
      // best effort: the next sweep tries again
    }
  }
  return [...stale];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function bedEnv(prefix: string, subnet: string): NodeJS.ProcessEnv {
  return { ...process.env, TESTBED_PREFIX: prefix, TESTBED_SUBNET: subnet };
}

/** One JSON line of a child's stdout (a line that is not JSON becomes `{ raw, t }`). */
export type BedEvent = Record<string, unknown>;

/** A process inside one host of the bed. */
export interface BedProcess {
  readonly host: number;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly events: BedEvent[];
  stderrText: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface BedOptions {
  /** Namespace names are `<prefix>-n<i>`, `<prefix>-sw`. @default uniqueBedPrefix() */
  readonly prefix?: string;
  /** @default "10.77.0" */
  readonly subnet?: string;
}

/** Keeps at most this much of a child's stderr (a crashing child can be verbose). */
const STDERR_CHARS_MAX = 64 * 1024;
const EVENTS_MAX = 100_000;

const liveBeds = new Set<Bed>();
process.on("exit", () => {
  for (const bed of liveBeds) {
    try {
      bed.downSync();
    } catch {
      // an exit hook must not throw; sweepStaleBeds() removes it on the next run
    }
  }
});

export class Bed {
  readonly prefix: string;
  readonly subnet: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly children = new Set<BedProcess>();
  private hosts = 0;

  constructor(options: BedOptions = {}) {
    this.prefix = options.prefix ?? uniqueBedPrefix();
    this.subnet = options.subnet ?? "10.77.0";
    this.env = bedEnv(this.prefix, this.subnet);
  }

  get size(): number {
    return this.hosts;
  }

  /** Runs `testbed.sh ARGS...` synchronously; returns its stdout. */
  sh(...args: Array<string | number>): string {
    return execFileSync("bash", [TESTBED, ...args.map(String)], {
      env: this.env, encoding: "utf8", timeout: SH_TIMEOUT_MS, stdio: ["ignore", "pipe", "pipe"],
    });
  }

  /** Builds the bed with `n` hosts (removing a leftover bed of the same prefix first). */
  up(n: number): this {
    try {
      this.sh("down");
    } catch {
      // nothing to remove
    }
    liveBeds.add(this);
    this.sh("up", n);
    this.hosts = n;
    return this;
  }

  ns(i: number): string {
    return `${this.prefix}-n${i}`;
  }

  addr(i: number): string {
    return `${this.subnet}.${i}`;
  }

  cut(i: number): void {
    this.sh("cut", i);
  }

  /** Heals host i (cut, loss, delay), or with no argument every fault including partitions. */
  heal(i?: number): void {
    if (i === undefined) this.sh("heal");
    else this.sh("heal", i);
  }

  /** Drops traffic between every pair of groups, e.g. `partition([1], [2, 3])`. */
  partition(...groups: number[][]): void {
    this.sh("partition", ...groups.map((g) => g.join(",")));
  }

  unpartition(): void {
    this.sh("unpartition");
  }

  delay(i: number, ms: number): void {
    this.sh("delay", i, ms);
  }

  loss(i: number, pct: number, dir: "both" | "in" | "out" = "both"): void {
    this.sh("loss", i, pct, dir);
  }

  /**
   * Starts `cmd args` in host i in the background. Its stdout JSON lines are parsed into
   * `events` (with a bound); stderr is kept in `stderrText` (bounded).
   */
  spawn(i: number, cmd: string, args: readonly string[] = [], options: { env?: Record<string, string> } = {}): BedProcess {
    if (!(Number.isInteger(i) && i >= 1 && i <= this.hosts)) throw new Error(`host ${i} not in 1..${this.hosts}`);
    const child = spawn("bash", [TESTBED, "exec", String(i), cmd, ...args], {
      env: { ...this.env, ...(options.env ?? {}) }, stdio: ["ignore", "pipe", "pipe"],
    });
    if (child.pid === undefined) throw new Error(`could not spawn ${cmd} in host ${i}`);
    const events: BedEvent[] = [];
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    const proc: BedProcess = { host: i, pid: child.pid, child, events, stderrText: "", exited };
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      if (events.length >= EVENTS_MAX) return;
      try {
        const value: unknown = JSON.parse(line);
        events.push(typeof value === "object" && value !== null ? (value as BedEvent) : { raw: line, t: Date.now() });
      } catch {
        events.push({ raw: line, t: Date.now() });
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      if (proc.stderrText.length < STDERR_CHARS_MAX) proc.stderrText += chunk.toString("utf8");
    });
    this.children.add(proc);
    void exited.then(() => this.children.delete(proc));
    return proc;
  }

  /** Signals a process by its PID (the program itself: the launch chain execs). */
  kill(proc: BedProcess, signal: NodeJS.Signals = "SIGTERM"): void {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
    try {
      process.kill(proc.pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM our children by PID, SIGKILL after `graceMs`, then `testbed.sh down`. Idempotent. */
  async down(graceMs = 2_000): Promise<void> {
    const kids = [...this.children];
    for (const kid of kids) this.kill(kid, "SIGTERM");
    await Promise.race([Promise.all(kids.map((k) => k.exited)), sleep(graceMs)]);
    for (const kid of this.children) this.kill(kid, "SIGKILL");
    this.downSync();
  }

  /** The synchronous part of `down` (also run from the process exit hook). */
  downSync(): void {
    for (const kid of this.children) this.kill(kid, "SIGKILL");
    if (!liveBeds.has(this)) return;
    liveBeds.delete(this);
    this.sh("down");
    this.hosts = 0;
  }

  /** Namespaces of this bed still present (for asserting the teardown). */
  namespaces(): string[] {
    const names = execFileSync("ip", ["netns", "list"], { encoding: "utf8", timeout: 5_000 });
    return names
      .split("\n")
      .map((l) => l.split(" ")[0] ?? "")
      .filter((n) => n === `${this.prefix}-sw` || new RegExp(`^${this.prefix}-n\\d+$`).test(n));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `pred` every `stepMs` until true or `timeoutMs`; returns the elapsed ms or throws. */
export async function waitFor(pred: () => boolean, timeoutMs: number, stepMs = 10, what = "condition"): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (pred()) return Date.now() - t0;
    if (Date.now() - t0 >= timeoutMs) throw new Error(`timeout after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}
