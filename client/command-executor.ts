/**
 * CommandExecutor: runs one single-record command against the cluster — route, send, parse,
 * retry — within the policy's bounds.
 *
 * Concept (C `as_command_execute`): attempt n goes to the node the router picks for replica
 * step n (master first; with 'sequence' the next replica on each retry). An attempt that fails
 * with a network error, a timeout (client or server, code 9), "partition unavailable" (11) or
 * "device overload" (18) is retried while attempts ≤ maxRetries and the total deadline is not
 * past; any other result (not found, generation, ...) is the server's definitive answer and
 * returns at once.
 *
 *   attempt 0 ─► node(replica 0) ─✗ retryable─► sleep ─► attempt 1 ─► node(replica 1) ─► ...
 *      per-attempt timeout = min(socketTimeoutMs or total, time left before the total deadline)
 *
 * Invariants:
 * - at most maxRetries + 1 attempts, none started after the total deadline;
 * - `inDoubt` on the final error is true when any attempt of a write may have been applied
 *   (sent and then timed out or lost), even if a later attempt failed before sending;
 * - the request frame is encoded once and resent as is (the server ignores retries' identity).
 */
import { AsMessage, KvError, ProtoType, ProtocolError, ResultCode, decodeMessage, isRetryableResult } from "./protocol/index.js";
import { fromResultCode } from "./errors.js";
import type { Key } from "./key.js";
import type { NodePool } from "./node-pool.js";
import { attemptTimeoutMs, type BasePolicy, type ReplicaPolicy } from "./policy.js";

/** The narrow routing interface the executor needs (the Cluster implements it). */
export interface Router {
  nodeFor(ns: string, pid: number, replica: ReplicaPolicy, attempt: number): Pick<NodePool, "name" | "request"> | undefined;
}

export interface CommandSpec<T> {
  readonly key: Key;
  readonly isWrite: boolean;
  readonly replica: ReplicaPolicy;
  /** The complete type-3 request frame. */
  readonly frame: Buffer;
  /** Turns the reply into the result; throws the typed error for a non-OK result code. */
  readonly parse: (msg: AsMessage, node: string) => T;
}

export interface ExecutorClock {
  /** Monotonic milliseconds. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: ExecutorClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Worth another attempt, maybe on another replica. */
export function isRetryable(err: KvError): boolean {
  return err.code === ResultCode.CONNECTION || err.code === ResultCode.INVALID_NODE || isRetryableResult(err.code);
}

export async function executeCommand<T>(
  router: Router, spec: CommandSpec<T>, policy: BasePolicy, clock: ExecutorClock = realClock,
): Promise<T> {
  const start = clock.now();
  const deadline = policy.totalTimeoutMs > 0 ? start + policy.totalTimeoutMs : Number.POSITIVE_INFINITY;
  let inDoubt = false;
  for (let attempt = 0; ; attempt++) {
    const err = await attemptOnce(router, spec, policy, attempt, deadline - clock.now());
    if (!(err instanceof KvError)) return err.value;
    inDoubt ||= err.inDoubt;
    const last = attempt >= policy.maxRetries || !isRetryable(err) ||
      clock.now() + policy.sleepBetweenRetriesMs >= deadline;
    if (last) throw finalError(err, inDoubt, attempt + 1);
    if (policy.sleepBetweenRetriesMs > 0) await clock.sleep(policy.sleepBetweenRetriesMs);
  }
}

async function attemptOnce<T>(
  router: Router, spec: CommandSpec<T>, policy: BasePolicy, attempt: number, leftMs: number,
): Promise<{ value: T } | KvError> {
  const key = spec.key;
  if (leftMs <= 0) {
    return fromResultCode(ResultCode.TIMEOUT, `client timeout: total timeout of ${policy.totalTimeoutMs} ms spent before attempt ${attempt + 1}`);
  }
  const node = router.nodeFor(key.ns, key.partitionId, spec.replica, attempt);
  if (!node) {
    return fromResultCode(ResultCode.INVALID_NODE, `no node available for ${key.ns} partition ${key.partitionId}: is the cluster up and are the hosts right?`);
  }
  const perAttempt = attemptTimeoutMs(policy);
  const timeout = perAttempt > 0 ? Math.min(perAttempt, leftMs) : leftMs;
  let msg: AsMessage;
  try {
    const frame = await node.request(spec.frame, ProtoType.MSG, spec.isWrite, Number.isFinite(timeout) ? Math.ceil(timeout) : 0);
    msg = decodeMessage(frame.body);
  } catch (err) {
    // ProtocolError carries the server-side code PARAMETER (4); here it means a reply that does
    // not parse, so the client cannot tell what happened: CLIENT_ERROR, in doubt for writes.
    if (err instanceof KvError && !(err instanceof ProtocolError)) return err;
    return fromResultCode(ResultCode.CLIENT_ERROR, `malformed reply from node ${node.name}`, spec.isWrite, { cause: err });
  }
  try {
    return { value: spec.parse(msg, node.name) };
  } catch (err) {
    if (err instanceof KvError) return err;
    throw err;
  }
}

function finalError(err: KvError, inDoubt: boolean, attempts: number): KvError {
  if (attempts === 1 && err.inDoubt === inDoubt) return err;
  const suffix = attempts > 1 ? ` (after ${attempts} attempts)` : "";
  return fromResultCode(err.code, `${err.message}${suffix}`, inDoubt, { cause: err });
}
