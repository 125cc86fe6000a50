/**
 * Client: the public entry point — configuration, lifecycle, and the single-record commands.
 *
 * Concept: `new Client(config)` validates the configuration once (naming the field, the value
 * and the range on error) and builds nothing else; `connect()` runs the first tend (cluster.ts)
 * and starts the tend timer; each command builds its request (command.ts), encodes it once, and
 * hands it to the executor (command-executor.ts), which routes it through the partition table to
 * a node's pool (node-pool.ts), where it is pipelined on a connection (connection.ts).
 *
 *   client.get(key) ─► getMessage ─► encodeMessage ─► executeCommand ─► cluster.nodeFor(pid)
 *                                                          │ retries                │
 *                                                          ▼                        ▼
 *                                                   parseRecord ◄── reply ◄── NodePool → Connection
 *
 * API idiom follows npm `aerospike`: promises, `get` rejects with RecordNotFoundError (code 2)
 * for a missing record, `exists` resolves false, `remove` of a missing record rejects with
 * RecordNotFoundError, writes resolve to the key. Events: 'nodeAdded', 'nodeRemoved',
 * 'partitionsUpdated', 'tendError' (never 'error', so an unhandled event cannot crash a process).
 *
 * Invariants: commands before `connect()` resolves or after `close()` reject with ClientError;
 * every command method returns a promise and never throws synchronously (bad arguments reject
 * with ParameterError); `close()` is idempotent and lets in-flight commands finish.
 */
import { EventEmitter } from "node:events";
import { AsMessage, ProtoType, ResultCode, decodeInfoResponse, encodeInfoRequest, encodeMessage } from "./protocol/index.js";
import { fromResultCode, parameterError } from "./errors.js";
import { Connection, CONNECT_TIMEOUT_MS_DEFAULT } from "./connection.js";
import { Cluster, ClusterEvent, ClusterHealth, NodeInfo, TEND_INTERVAL_MS_DEFAULT } from "./cluster.js";
import { CommandSpec, executeCommand } from "./command-executor.js";
import {
  Bins, KvRecord, WriteMeta, checkResult, existsMessage, getMessage, operateMessage, parseRecord,
  putMessage, removeMessage, touchMessage,
} from "./command.js";
import { Key } from "./key.js";
import { Host, IN_FLIGHT_PER_CONN_MAX_DEFAULT, INFO_BODY_BYTES_MAX, MAX_CONNS_PER_NODE_DEFAULT, QUEUED_MAX_DEFAULT } from "./node-pool.js";
import type { Operation } from "./operations.js";
import { parseHosts } from "./peers.js";
import {
  BasePolicy, OperatePolicy, Policies, PoliciesInput, READ_MAX_RETRIES_DEFAULT, ReadPolicy, ReplicaPolicy, WritePolicy,
  resolveOperatePolicy, resolvePolicies, resolveReadPolicy, resolveWritePolicy,
} from "./policy.js";

export { CONNECT_TIMEOUT_MS_DEFAULT };
export const INFO_TIMEOUT_MS_DEFAULT = 1000;

export interface ClientConfig {
  /** Seeds: "host:port,host:port" (IPv6 as "[::1]:3000") or [{ host, port }]. Port default 3000. */
  readonly hosts: string | ReadonlyArray<{ readonly host: string; readonly port?: number }>;
  /** Tend interval. @default 1000 */
  readonly tendIntervalMs?: number;
  /** TCP connect timeout, also the deadline of tend info requests. @default 1000 */
  readonly connectTimeoutMs?: number;
  /** Data connections per node. @default 8 */
  readonly maxConnsPerNode?: number;
  /** Pipelined requests per connection before another one is opened. @default 16 */
  readonly inFlightPerConnMax?: number;
  /** Requests that may wait for a connection slot, per node. @default 4096 */
  readonly queuedMaxPerNode?: number;
  /** Default policies per command kind; each call may override fields. */
  readonly policies?: PoliciesInput;
  /** Wall clock in ms, used to turn void times into TTLs. @default Date.now */
  readonly now?: () => number;
}

export type ClientStatus = "idle" | "connecting" | "connected" | "closed";

interface ResolvedConfig {
  readonly seeds: readonly Host[];
  readonly tendIntervalMs: number;
  readonly connectTimeoutMs: number;
  readonly maxConnsPerNode: number;
  readonly inFlightPerConnMax: number;
  readonly queuedMaxPerNode: number;
  readonly policies: Policies;
  readonly operateRetriesConfigured: boolean;
  readonly now: () => number;
}

function intIn(field: string, v: number | undefined, dflt: number, min: number, max: number): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < min || x > max) {
    throw parameterError(`config field ${field} = ${x} must be an integer in range [${min}, ${max}]`);
  }
  return x;
}

/** Validates a user config once; throws ParameterError naming the field. */
export function resolveClientConfig(c: ClientConfig): ResolvedConfig {
  if (c === null || typeof c !== "object") throw parameterError("new Client(config) needs a config object with hosts");
  return Object.freeze({
    seeds: parseHosts(c.hosts),
    tendIntervalMs: intIn("tendIntervalMs", c.tendIntervalMs, TEND_INTERVAL_MS_DEFAULT, 10, 3_600_000),
    connectTimeoutMs: intIn("connectTimeoutMs", c.connectTimeoutMs, CONNECT_TIMEOUT_MS_DEFAULT, 1, 600_000),
    maxConnsPerNode: intIn("maxConnsPerNode", c.maxConnsPerNode, MAX_CONNS_PER_NODE_DEFAULT, 1, 1024),
    inFlightPerConnMax: intIn("inFlightPerConnMax", c.inFlightPerConnMax, IN_FLIGHT_PER_CONN_MAX_DEFAULT, 1, 4096),
    queuedMaxPerNode: intIn("queuedMaxPerNode", c.queuedMaxPerNode, QUEUED_MAX_DEFAULT, 0, 1_000_000),
    policies: resolvePolicies(c.policies),
    operateRetriesConfigured: c.policies?.operate?.maxRetries !== undefined,
    now: c.now ?? Date.now,
  });
}

export class Client extends EventEmitter {
  private readonly config: ResolvedConfig;
  private cluster: Cluster | undefined;
  private statusValue: ClientStatus = "idle";

  constructor(config: ClientConfig) {
    super();
    this.config = resolveClientConfig(config);
  }

  get status(): ClientStatus {
    return this.statusValue;
  }

  /** The effective default policies. */
  get policies(): Policies {
    return this.config.policies;
  }

  /** Learns the cluster from the seeds; rejects with ConnectionError if no seed answers. */
  async connect(): Promise<this> {
    if (this.statusValue !== "idle") throw fromResultCode(ResultCode.CLIENT_ERROR, `connect() called on a ${this.statusValue} client`);
    this.statusValue = "connecting";
    const c = this.config;
    const cluster = new Cluster({
      seeds: c.seeds,
      tendIntervalMs: c.tendIntervalMs,
      connectTimeoutMs: c.connectTimeoutMs,
      pool: { maxConnsPerNode: c.maxConnsPerNode, inFlightPerConnMax: c.inFlightPerConnMax, queuedMax: c.queuedMaxPerNode },
      onEvent: (e) => this.onClusterEvent(e),
    });
    this.cluster = cluster;
    try {
      await cluster.connect();
    } catch (err) {
      await cluster.close();
      if (this.statusValue === "connecting") this.statusValue = "closed";
      throw err;
    }
    // close() may have run while the first tend was in progress.
    if ((this.statusValue as ClientStatus) === "closed") {
      await cluster.close();
      throw fromResultCode(ResultCode.CLIENT_ERROR, "client closed while connecting");
    }
    this.statusValue = "connected";
    return this;
  }

  /** Stops tending and closes every connection after in-flight commands finish. Idempotent. */
  async close(): Promise<void> {
    this.statusValue = "closed";
    await this.cluster?.close();
  }

  /** All bins, the named bins, or (bins = []) the header only. Rejects with RecordNotFoundError. */
  async get(key: Key, bins?: readonly string[], policy?: Partial<ReadPolicy>): Promise<KvRecord> {
    assertKey(key);
    const p = resolveReadPolicy(this.config.policies.read, policy);
    const msg = getMessage(key, bins, p);
    return this.run(key, msg, false, p.replica, p, (reply, node) => {
      checkResult(reply, false, node);
      return parseRecord(key, reply, this.config.now());
    });
  }

  /** True when the record exists. */
  async exists(key: Key, policy?: Partial<ReadPolicy>): Promise<boolean> {
    assertKey(key);
    const p = resolveReadPolicy(this.config.policies.read, policy);
    return this.run(key, existsMessage(key, p), false, p.replica, p, (reply, node) => {
      if (reply.resultCode === ResultCode.NOT_FOUND) return false;
      checkResult(reply, false, node);
      return true;
    });
  }

  /** Writes bins (null deletes a bin); meta.ttl / meta.gen override the policy. */
  async put(key: Key, bins: Bins, meta?: WriteMeta, policy?: Partial<WritePolicy>): Promise<Key> {
    assertKey(key);
    const p = resolveWritePolicy(this.config.policies.write, policy);
    return this.write(key, putMessage(key, bins, meta, p), p);
  }

  /** Deletes the record; rejects with RecordNotFoundError when it does not exist (as npm aerospike). */
  async remove(key: Key, policy?: Partial<WritePolicy>): Promise<Key> {
    assertKey(key);
    const p = resolveWritePolicy(this.config.policies.remove, policy);
    return this.write(key, removeMessage(key, p), p);
  }

  /** Bumps the generation and resets the TTL (seconds; default: the policy's ttl). */
  async touch(key: Key, ttl?: number, policy?: Partial<WritePolicy>): Promise<Key> {
    assertKey(key);
    const p = resolveWritePolicy(this.config.policies.write, policy);
    return this.write(key, touchMessage(key, ttl, p), p);
  }

  /** Runs the operations atomically on one record; results folded by bin name, last wins. */
  async operate(key: Key, ops: readonly Operation[], policy?: Partial<OperatePolicy>): Promise<KvRecord> {
    assertKey(key);
    let p = resolveOperatePolicy(this.config.policies.operate, policy);
    const { msg, isWrite } = operateMessage(key, ops, undefined, p);
    if (!isWrite && policy?.maxRetries === undefined && !this.config.operateRetriesConfigured) {
      // C: a read-only operate without an explicit policy retries like a read.
      p = { ...p, maxRetries: READ_MAX_RETRIES_DEFAULT };
    }
    const replica = isWrite ? writeReplica(p.replica) : p.replica;
    return this.run(key, msg, isWrite, replica, p, (reply, node) => {
      checkResult(reply, isWrite, node);
      return parseRecord(key, reply, this.config.now());
    });
  }

  /**
   * Runs one info command on `host` ("host:port" or a node name; default: any node) and returns
   * its value. An `ERROR:<code>:<message>` value rejects with that code.
   */
  async info(command: string, host?: string, timeoutMs = INFO_TIMEOUT_MS_DEFAULT): Promise<string> {
    const cluster = this.connected();
    let values: Map<string, string>;
    const pool = host === undefined ? cluster.anyNode() : cluster.pool(host);
    if (pool) {
      values = await pool.info([command], timeoutMs);
    } else if (host === undefined) {
      throw fromResultCode(ResultCode.INVALID_NODE, "no node available for an info request");
    } else {
      values = await oneOffInfo(parseHosts(host)[0]!, command, timeoutMs, this.config.connectTimeoutMs);
    }
    const value = values.get(command) ?? (values.size === 1 ? [...values.values()][0]! : "");
    const m = /^ERROR:(\d*):?(.*)$/s.exec(value);
    if (m) throw fromResultCode(m[1] ? Number(m[1]) : ResultCode.SERVER_ERROR, `info ${command}: ${m[2] || value}`);
    return value;
  }

  /** Known nodes: name and address. */
  nodes(): NodeInfo[] {
    return this.cluster?.nodes() ?? [];
  }

  /** Node count and, per namespace, the partitions that have no known master. */
  health(): ClusterHealth {
    return this.cluster?.health() ?? { nodes: 0, namespaces: {} };
  }

  private write(key: Key, msg: AsMessage, p: WritePolicy): Promise<Key> {
    return this.run(key, msg, true, writeReplica(p.replica), p, (reply, node) => {
      checkResult(reply, true, node);
      return key;
    });
  }

  private run<T>(
    key: Key, msg: AsMessage, isWrite: boolean, replica: ReplicaPolicy, policy: BasePolicy,
    parse: (reply: AsMessage, node: string) => T,
  ): Promise<T> {
    const cluster = this.connected();
    const spec: CommandSpec<T> = { key, isWrite, replica, frame: encodeMessage(msg), parse };
    return executeCommand(cluster, spec, policy);
  }

  private connected(): Cluster {
    if (this.statusValue !== "connected" || !this.cluster) {
      throw fromResultCode(ResultCode.CLIENT_ERROR, `client is ${this.statusValue}: await client.connect() before sending commands`);
    }
    return this.cluster;
  }

  private onClusterEvent(e: ClusterEvent): void {
    switch (e.kind) {
      case "node-added":
        this.emit("nodeAdded", { name: e.name, address: e.address });
        break;
      case "node-removed":
        this.emit("nodeRemoved", { name: e.name, reason: e.reason });
        break;
      case "partitions-updated":
        this.emit("partitionsUpdated", { name: e.name, generation: e.generation });
        break;
      case "tend-error":
        this.emit("tendError", e.error);
        break;
    }
  }
}

function assertKey(key: unknown): asserts key is Key {
  if (!(key instanceof Key)) throw parameterError("the key must be a Key: new Key(namespace, set, userKey)");
}

/** C `as_command_write_replica`: writes never go to an arbitrary replica first. */
function writeReplica(r: ReplicaPolicy): ReplicaPolicy {
  return r === "any" ? "sequence" : r;
}

async function oneOffInfo(h: Host, command: string, timeoutMs: number, connectTimeoutMs: number): Promise<Map<string, string>> {
  const conn = await Connection.connect({ host: h.host, port: h.port, connectTimeoutMs, bodyBytesMax: INFO_BODY_BYTES_MAX });
  try {
    const frame = await conn.request(encodeInfoRequest([command]), ProtoType.INFO, false, timeoutMs);
    return decodeInfoResponse(frame.body);
  } finally {
    conn.destroy();
  }
}

