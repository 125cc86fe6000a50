/**
 * Cluster: the tender — learns the nodes and the partition table, keeps them fresh, and routes.
 *
 * Concept (the smart-client algorithm, §12 of the protocol reference):
 *
 *   seeds ─validate─► nodes ─peers-clear-std─► more nodes ─partition-generation+replicas─► table
 *     ▲                                                                                     │
 *     └── no node left          every tendIntervalMs: node, peers-generation,  ◄────────────┘
 *                               partition-generation per node; refetch what changed
 *
 * - Validation (seed or peer): new TCP connection, info `node`, `partition-generation`, `build`;
 *   reject partition-generation -1 (not ready), build < 4.9.0.3, a node id over 19 characters,
 *   or any ERROR value. The connection becomes the node's info connection.
 * - Seeds are validated in parallel: a seed that is down costs at most connectTimeoutMs and
 *   never prevents connecting through the others.
 * - Removal is decided by the pure `nodesToRemove` (C `as_cluster.c` rules): an id change; in a
 *   multi-node cluster, a failing node no peer lists any more, or a live node nobody lists that
 *   owns no partition; any node after FAILURES_MAX consecutive failed tends.
 * - Partitions are fetched only from nodes that have peers or when a single node answered
 *   (C guard against a split-off one-node cluster taking over the map).
 * - Routing: digest → partition id → table[ns][replica][pid] → node; see `nodeFor`.
 *
 * Invariants: one tend pass at a time; the table is replaced, never mutated (commands route on
 * a consistent snapshot); the timer is unref'd so an idle client does not keep a process alive;
 * after `close()` nothing new is opened.
 */
import { debuglog } from "node:util";
import { KvError, ProtoType, ResultCode, decodeInfoResponse, encodeInfoRequest } from "./protocol/index.js";
import { fromResultCode } from "./errors.js";
import { Connection, ConnectOptions, CONNECT_TIMEOUT_MS_DEFAULT } from "./connection.js";
import { Host, INFO_BODY_BYTES_MAX, NodePool, NodePoolOptions, formatHost } from "./node-pool.js";
import { PartitionTable } from "./partition-table.js";
import { NODE_NAME_CHARS_MAX, parsePeers } from "./peers.js";
import type { ReplicaPolicy } from "./policy.js";

const log = debuglog("shoal:cluster");

export const TEND_INTERVAL_MS_DEFAULT = 1000;
/** Consecutive failed tends after which a node is dropped whatever its peers say. */
export const FAILURES_MAX = 5;
const BUILD_MIN = [4, 9, 0, 3] as const;

export type PoolSettings = Omit<NodePoolOptions, "name" | "address" | "infoConnection" | "connect" | "connectTimeoutMs">;

export interface ClusterOptions {
  readonly seeds: readonly Host[];
  /** @default TEND_INTERVAL_MS_DEFAULT */
  readonly tendIntervalMs?: number;
  /** Connect timeout, also the deadline of every tend info request. @default 1000 */
  readonly connectTimeoutMs?: number;
  readonly pool?: PoolSettings;
  /** Connection factory. @default Connection.connect */
  readonly connect?: (opts: ConnectOptions) => Promise<Connection>;
  readonly onEvent?: (event: ClusterEvent) => void;
}

export type ClusterEvent =
  | { readonly kind: "node-added"; readonly name: string; readonly address: Host }
  | { readonly kind: "node-removed"; readonly name: string; readonly reason: string }
  | { readonly kind: "partitions-updated"; readonly name: string; readonly generation: number }
  | { readonly kind: "tend-error"; readonly error: KvError };

export interface NodeInfo {
  readonly name: string;
  readonly address: Host;
}

export interface ClusterHealth {
  readonly nodes: number;
  /** Per namespace: partitions with no known master (0 when healthy). */
  readonly namespaces: { readonly [ns: string]: { readonly partitionsWithoutMaster: number } };
}

type RefreshResult = "ok" | "peers-changed" | "failed" | "renamed";

interface NodeState {
  readonly name: string;
  readonly address: Host;
  readonly pool: NodePool;
  failures: number;
  /** peers-generation whose peers list we hold (-1: none yet, or must be asked again). */
  peersGeneration: number;
  /** peers-generation reported by the latest tend. */
  seenPeersGeneration: number;
  partitionGeneration: number;
  /** Node names this node listed in its last peers reply. */
  peers: readonly string[];
}

/** What `nodesToRemove` needs to know about one node after a tend pass. */
export interface TendView {
  readonly name: string;
  readonly responsive: boolean;
  readonly nameChanged: boolean;
  readonly failures: number;
  /** How many other nodes list this one as a peer. */
  readonly friends: number;
  readonly ownsPartitions: boolean;
}

/** The removal rules, pure (C `as_cluster.c`). Returns [name, reason] pairs. */
export function nodesToRemove(views: readonly TendView[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const multi = views.length > 1;
  for (const v of views) {
    if (v.nameChanged) out.push([v.name, "node id changed"]);
    else if (v.failures >= FAILURES_MAX) out.push([v.name, `${v.failures} consecutive tend failures`]);
    else if (multi && !v.responsive && v.friends === 0) out.push([v.name, "unreachable and no longer listed by any peer"]);
    else if (multi && v.responsive && v.friends === 0 && !v.ownsPartitions) out.push([v.name, "listed by no peer and owns no partition"]);
  }
  return out;
}

/** Checks the validation info values; returns the node name or throws a readable KvError. */
export function checkValidation(values: ReadonlyMap<string, string>, where: string): { name: string; partitionGeneration: number } {
  const fail = (why: string): never => {
    throw fromResultCode(ResultCode.INVALID_NODE, `node at ${where} rejected: ${why}`);
  };
  for (const [cmd, v] of values) if (v.startsWith("ERROR:")) fail(`info ${cmd} answered ${v}`);
  const name = values.get("node") ?? "";
  if (!/^[\x21-\x7e]+$/.test(name) || name.length > NODE_NAME_CHARS_MAX) {
    fail(`node id ${JSON.stringify(name)} must be 1..${NODE_NAME_CHARS_MAX} printable characters`);
  }
  const gen = parseInfoInt(values.get("partition-generation"));
  if (gen === undefined) fail(`invalid partition-generation ${JSON.stringify(values.get("partition-generation"))}`);
  if (gen! < 0) fail("partition-generation is -1: the node is not ready yet");
  const build = values.get("build") ?? "";
  const parts = build.split(".");
  if (parts.length < 3 || !parts.every((p) => /^\d+$/.test(p))) fail(`build ${JSON.stringify(build)} is not a version`);
  const nums = parts.map(Number);
  for (let i = 0; i < BUILD_MIN.length; i++) {
    const a = nums[i] ?? 0;
    if (a !== BUILD_MIN[i]) {
      if (a < BUILD_MIN[i]!) fail(`build ${build} is older than ${BUILD_MIN.join(".")}`);
      break;
    }
  }
  return { name, partitionGeneration: gen! };
}

function parseInfoInt(v: string | undefined): number | undefined {
  return v !== undefined && /^-?\d{1,15}$/.test(v) ? Number(v) : undefined;
}

export class Cluster {
  private readonly seeds: readonly Host[];
  private readonly tendIntervalMs: number;
  private readonly connectTimeoutMs: number;
  private readonly opts: ClusterOptions;
  private readonly connectFn: (opts: ConnectOptions) => Promise<Connection>;
  private readonly byName = new Map<string, NodeState>();
  private tableValue = PartitionTable.EMPTY;
  private timer: NodeJS.Timeout | undefined;
  private tending: Promise<void> | undefined;
  private closedState = false;
  private roundRobin = 0;

  constructor(opts: ClusterOptions) {
    this.opts = opts;
    this.seeds = opts.seeds;
    this.tendIntervalMs = opts.tendIntervalMs ?? TEND_INTERVAL_MS_DEFAULT;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT;
    this.connectFn = opts.connect ?? Connection.connect;
  }

  get table(): PartitionTable {
    return this.tableValue;
  }

  /** First tend; rejects with ConnectionError when no seed could be validated. */
  async connect(): Promise<void> {
    const errors = await this.tend();
    if (this.byName.size === 0) {
      const detail = errors.map((e) => e.message).join("; ");
      throw fromResultCode(ResultCode.CONNECTION, `could not connect to any seed of ${this.seeds.map(formatHost).join(", ")}: ${detail}`);
    }
    this.schedule();
  }

  /** One tend pass (serialised). Returns the errors met, for connect's message. */
  tend(): Promise<KvError[]> {
    if (this.closedState) return Promise.resolve([]);
    const run = (this.tending ?? Promise.resolve()).then(() => this.tendOnce());
    this.tending = run.then(() => undefined, () => undefined);
    return run;
  }

  nodes(): NodeInfo[] {
    return [...this.byName.values()].map((n) => ({ name: n.name, address: n.address }));
  }

  /** The pool of a node by name or "host:port". */
  pool(nameOrAddress: string): NodePool | undefined {
    const byName = this.byName.get(nameOrAddress);
    if (byName) return byName.pool;
    for (const n of this.byName.values()) if (formatHost(n.address) === nameOrAddress) return n.pool;
    return undefined;
  }

  /** Any node, round robin. */
  anyNode(): NodePool | undefined {
    const all = [...this.byName.values()];
    if (all.length === 0) return undefined;
    return all[this.roundRobin++ % all.length]!.pool;
  }

  health(): ClusterHealth {
    const namespaces: { [ns: string]: { partitionsWithoutMaster: number } } = {};
    for (const ns of this.tableValue.namespaces()) {
      namespaces[ns] = { partitionsWithoutMaster: this.tableValue.partitionsWithoutMaster(ns) };
    }
    return { nodes: this.byName.size, namespaces };
  }

  /**
   * The node for attempt `attempt` (0-based) of a command on partition `pid` of `ns`:
   * 'master' always replica 0; 'sequence' replica attempt % count; 'any' a rotating start.
   * Replica indexes with no live node are skipped; with no table entry at all, any node.
   */
  nodeFor(ns: string, pid: number, replica: ReplicaPolicy, attempt: number): NodePool | undefined {
    const count = this.tableValue.replicaCount(ns);
    if (count > 0) {
      const start = replica === "master" ? 0 : replica === "sequence" ? attempt % count : (this.roundRobin++ + attempt) % count;
      const tries = replica === "master" ? 1 : count;
      for (let i = 0; i < tries; i++) {
        const name = this.tableValue.lookup(ns, pid, (start + i) % count);
        const node = name === undefined ? undefined : this.byName.get(name);
        if (node && !node.pool.closed) return node.pool;
      }
    }
    // The table has no live owner yet (first tend, or a node just left): a node proxies.
    return this.anyNode();
  }

  async close(): Promise<void> {
    this.closedState = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.tending;
    const pools = [...this.byName.values()].map((n) => n.pool);
    this.byName.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  private schedule(): void {
    if (this.closedState) return;
    this.timer = setTimeout(() => {
      this.tend().then(
        (errors) => {
          for (const error of errors) this.emit({ kind: "tend-error", error });
          this.schedule();
        },
        () => this.schedule(),
      );
    }, this.tendIntervalMs);
    this.timer.unref();
  }

  private async tendOnce(): Promise<KvError[]> {
    const errors: KvError[] = [];
    if (this.byName.size === 0) await this.seed(errors);
    const results = new Map<NodeState, RefreshResult>();
    // Nodes found through peers are refreshed in the same pass, so that a new cluster member
    // gets its partitions without waiting a tend interval; bounded rounds, a peer chain is short.
    let batch = [...this.byName.values()];
    for (let round = 0; round < 4 && batch.length > 0; round++) {
      const outcome = await Promise.all(batch.map((n) => this.refresh(n, errors)));
      batch.forEach((n, i) => results.set(n, outcome[i]!));
      const changed = batch.filter((n) => results.get(n) === "peers-changed");
      if (changed.length === 0) break;
      const known = new Set(this.byName.values());
      await this.refreshPeers(changed, errors);
      batch = [...this.byName.values()].filter((n) => !known.has(n));
    }
    const responsive = [...results].filter(([, r]) => r === "ok" || r === "peers-changed").map(([n]) => n);
    await this.refreshPartitions(responsive, errors);
    this.removeNodes(results);
    return errors;
  }

  private async seed(errors: KvError[]): Promise<void> {
    const found = await Promise.allSettled(this.seeds.map((s) => this.validate(s, undefined)));
    for (const r of found) {
      if (r.status === "fulfilled") this.add(r.value.name, r.value.address, r.value.conn);
      else errors.push(toKvError(r.reason));
    }
  }

  private async refresh(n: NodeState, errors: KvError[]): Promise<RefreshResult> {
    try {
      const v = await n.pool.info(["node", "peers-generation", "partition-generation"], this.connectTimeoutMs);
      if (v.get("node") !== n.name) return "renamed";
      const peersGen = parseInfoInt(v.get("peers-generation"));
      const partGen = parseInfoInt(v.get("partition-generation"));
      if (peersGen === undefined || partGen === undefined) throw fromResultCode(ResultCode.CLIENT_ERROR, `node ${n.name}: malformed tend reply`);
      n.failures = 0;
      n.partitionGeneration = partGen;
      n.seenPeersGeneration = peersGen;
      return peersGen !== n.peersGeneration ? "peers-changed" : "ok";
    } catch (err) {
      n.failures++;
      errors.push(toKvError(err));
      return "failed";
    }
  }

  private async refreshPeers(nodes: readonly NodeState[], errors: KvError[]): Promise<void> {
    const candidates = new Map<string, { hosts: Host[]; listedBy: NodeState[] }>();
    await Promise.all(nodes.map(async (n) => {
      try {
        const v = await n.pool.info(["peers-clear-std"], this.connectTimeoutMs);
        const reply = parsePeers(v.get("peers-clear-std") ?? "");
        n.peers = reply.peers.map((p) => p.nodeName);
        n.peersGeneration = n.seenPeersGeneration;
        for (const p of reply.peers) {
          if (this.byName.has(p.nodeName)) continue;
          const c = candidates.get(p.nodeName) ?? { hosts: [...p.hosts], listedBy: [] };
          c.listedBy.push(n);
          candidates.set(p.nodeName, c);
        }
      } catch (err) {
        errors.push(toKvError(err));
      }
    }));
    await Promise.all([...candidates].map(async ([name, c]) => {
      for (const h of c.hosts) {
        try {
          const v = await this.validate(h, name);
          this.add(name, h, v.conn);
          return;
        } catch (err) {
          errors.push(toKvError(err));
        }
      }
      // Not reachable yet: forget the generation of whoever listed it, so the next tend asks
      // again instead of waiting for the peers list to change (C keeps invalid peers likewise).
      for (const n of c.listedBy) n.peersGeneration = -1;
    }));
  }

  private async refreshPartitions(responsive: readonly NodeState[], errors: KvError[]): Promise<void> {
    const stale = responsive.filter((n) =>
      this.byName.has(n.name) && n.partitionGeneration >= 0 && this.tableValue.generationOf(n.name) !== n.partitionGeneration &&
      (n.peers.length > 0 || responsive.length === 1));
    await Promise.all(stale.map(async (n) => {
      try {
        const v = await n.pool.info(["partition-generation", "replicas"], this.connectTimeoutMs);
        const gen = parseInfoInt(v.get("partition-generation"));
        const replicas = v.get("replicas");
        if (gen === undefined || replicas === undefined || replicas.startsWith("ERROR:")) {
          throw fromResultCode(ResultCode.CLIENT_ERROR, `node ${n.name}: malformed replicas reply`);
        }
        if (this.closedState || !this.byName.has(n.name)) return;
        this.tableValue = this.tableValue.withClaims(n.name, gen, replicas);
        this.emit({ kind: "partitions-updated", name: n.name, generation: gen });
      } catch (err) {
        errors.push(toKvError(err));
      }
    }));
  }

  private removeNodes(results: ReadonlyMap<NodeState, RefreshResult>): void {
    const listedBy = new Map<string, number>();
    for (const n of this.byName.values()) {
      for (const p of n.peers) if (p !== n.name) listedBy.set(p, (listedBy.get(p) ?? 0) + 1);
    }
    const views: TendView[] = [...this.byName.values()].map((n) => {
      const result = results.get(n) ?? "ok";
      return {
        name: n.name,
        responsive: result !== "failed" && result !== "renamed",
        nameChanged: result === "renamed",
        failures: n.failures,
        friends: listedBy.get(n.name) ?? 0,
        ownsPartitions: this.tableValue.ownsAny(n.name),
      };
    });
    for (const [name, reason] of nodesToRemove(views)) {
      const n = this.byName.get(name);
      if (!n) continue;
      this.byName.delete(name);
      this.tableValue = this.tableValue.withoutNode(name);
      void n.pool.close();
      log("node %s removed: %s", name, reason);
      this.emit({ kind: "node-removed", name, reason });
    }
  }

  /** Connects and validates `address`; `expected` is the peer id the address must answer. */
  private async validate(address: Host, expected: string | undefined): Promise<{ name: string; address: Host; conn: Connection }> {
    const where = formatHost(address);
    const conn = await this.connectFn({
      host: address.host, port: address.port, label: where,
      connectTimeoutMs: this.connectTimeoutMs, bodyBytesMax: INFO_BODY_BYTES_MAX,
    });
    try {
      const frame = await conn.request(encodeInfoRequest(["node", "partition-generation", "build"]), ProtoType.INFO, false, this.connectTimeoutMs);
      const { name } = checkValidation(decodeInfoResponse(frame.body), where);
      if (expected !== undefined && name !== expected) {
        throw fromResultCode(ResultCode.INVALID_NODE, `peer ${expected} at ${where} answered as node ${name}`);
      }
      if (this.closedState) throw fromResultCode(ResultCode.CONNECTION, "cluster closed");
      return { name, address, conn };
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  private add(name: string, address: Host, conn: Connection): void {
    if (this.closedState || this.byName.has(name)) {
      conn.destroy(); // the same node reached through two seeds
      return;
    }
    const pool = new NodePool({
      ...this.opts.pool,
      name,
      address,
      connectTimeoutMs: this.connectTimeoutMs,
      infoConnection: conn,
      connect: this.connectFn,
    });
    this.byName.set(name, {
      name, address, pool, failures: 0, peersGeneration: -1, seenPeersGeneration: -1, partitionGeneration: -1, peers: [],
    });
    log("node %s added at %s", name, formatHost(address));
    this.emit({ kind: "node-added", name, address });
  }

  private emit(e: ClusterEvent): void {
    try {
      this.opts.onEvent?.(e);
    } catch (err) {
      log("event listener threw: %s", err);
    }
  }
}

function toKvError(err: unknown): KvError {
  if (err instanceof KvError) return err;
  return fromResultCode(ResultCode.CLIENT_ERROR, err instanceof Error ? err.message : String(err), false, { cause: err });
}
