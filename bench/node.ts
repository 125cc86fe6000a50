/**
 * Node processes for the benchmarks: the ready line, and a stop that cannot hang. (The test
 * harness has its own, in test/; bench/ is built apart from test/ and cannot import it.)
 */
import type { ChildProcess } from "node:child_process";
import readline from "node:readline";

/** The JSON line a node prints on stdout once it serves. */
export interface Ready {
  servicePort: number;
  fabricPort: number;
  heartbeatPort: number;
  httpPort: number;
  nodeId: string;
}

/**
 * Resolves with the node's ready line; rejects if it exits first (`exited` says how) or after
 * `timeoutMs`. `describe` adds context (a log tail) to the error.
 */
export function waitReady(child: ChildProcess, exited: Promise<string>, what: string, timeoutMs: number, describe: () => string = () => ""): Promise<Ready> {
  const lines = readline.createInterface({ input: child.stdout! });
  return new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not ready in ${timeoutMs / 1000} s${describe()}`)), timeoutMs);
    lines.once("line", (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as Ready);
      } catch {
        reject(new Error(`${what}: bad ready line ${line}`));
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${how}) before ready${describe()}`));
    });
  });
}

/** How a child ended, once it has. */
export function exitOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(signal ? `signal ${signal}` : `code ${code}`)));
}

/** SIGTERM, then SIGKILL by PID after `timeoutMs`. */
export async function stopChild(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise((r) => child.once("exit", r));
  try { process.kill(child.pid, "SIGTERM"); } catch { return; }
  const timer = setTimeout(() => {
    console.error(`node pid ${child.pid} still up ${timeoutMs} ms after SIGTERM: SIGKILL`);
    try { process.kill(child.pid!, "SIGKILL"); } catch { /* gone */ }
  }, timeoutMs);
  await gone;
  clearTimeout(timer);
}
