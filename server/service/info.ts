/**
 * Info commands (§8 of the protocol reference): what clients send to validate and tend a node,
 * plus the operator commands (`namespaces`, `namespace/<ns>`, `statistics`).
 *
 * The answers about the cluster come from a `ClusterView` so that this module does not care
 * whether the node is alone or one of many. Commands a client sends during validation or tending
 * never get an ERROR value (the C client would drop the node); unknown commands get
 * `ERROR:4:unrecognized command`, as the Aerospike server answers.
 */
import { infoError } from "../../client/protocol/info.js";
import { ResultCode } from "../../client/protocol/result-code.js";
import { effectiveReplicationFactor } from "../core/partition-map.js";
import type { Namespace } from "./namespace.js";
import type { ServiceStats } from "./stats.js";

/** What info needs to know about the cluster this node is in. */
export interface ClusterView {
  /** Node id as uppercase hex without leading zeros. */
  nodeName(): string;
  clusterName(): string;
  /** Bumped whenever `replicas` would change; never -1 once serving. */
  partitionGeneration(): number;
  peersGeneration(): number;
  /** `<gen>,<defaultPort>,[<peer>,...]`. */
  peersClearStd(): string;
  /** This node's client addresses `host:port,...`. */
  serviceClearStd(): string;
  /** `<ns>:0,<count>,<b64>...` for one namespace. */
  replicas(ns: Namespace): string;
  /** Cluster size as seen by this node. */
  clusterSize(): number;
  /** Hex cluster key. */
  clusterKey(): string;
}

/** The version we report: ≥ 6.0 gives clients the new batch format and partition scans, < 8.1 avoids user-agent-set. */
export const BUILD_VERSION = "8.0.0.0";
const FEATURES = "batch-any;batch-index;blob-bits;cdt-list;cdt-map;cluster-stable;float;geo;peers;pipelining;pquery;pscans;query-show;relaxed-sc;replicas;replicas-all;replicas-master;replicas-max;truncate-namespace;udf";

export interface InfoContext {
  readonly cluster: ClusterView;
  readonly namespaces: ReadonlyMap<string, Namespace>;
  readonly stats: ServiceStats;
  readonly now: () => number;
  readonly version: string;
  /** Extra counters (migrations) merged into `statistics`. */
  readonly extraStats?: () => Record<string, number>;
}

/** Answers each command in order. */
export function answerInfo(commands: readonly string[], ctx: InfoContext): Array<[string, string]> {
  if (commands.length === 0) return summary(ctx);
  return commands.map((c) => [c, answerOne(c, ctx)]);
}

function summary(ctx: InfoContext): Array<[string, string]> {
  return ["node", "build", "edition", "version", "statistics", "namespaces"].map((c) => [c, answerOne(c, ctx)]);
}

function answerOne(command: string, ctx: InfoContext): string {
  const { cluster } = ctx;
  const slash = command.indexOf("/");
  const colon = command.indexOf(":");
  const cut = [slash, colon].filter((i) => i >= 0);
  const name = cut.length ? command.slice(0, Math.min(...cut)) : command;
  switch (name) {
    case "node": return cluster.nodeName();
    case "build": return BUILD_VERSION;
    case "version": return `shoal ${ctx.version}`;
    case "edition": return "shoal";
    case "features": return FEATURES;
    case "status": return "ok";
    case "partitions": return "4096";
    case "partition-generation": return String(cluster.partitionGeneration());
    case "peers-generation": return String(cluster.peersGeneration());
    case "peers-clear-std":
    case "peers-clear-alt":
    case "peers-tls-std":
    case "peers-tls-alt": return name.includes("tls") ? `${cluster.peersGeneration()},,[]` : cluster.peersClearStd();
    case "service":
    case "service-clear-std":
    case "service-clear-alt":
    case "services": return name === "services" ? "" : cluster.serviceClearStd();
    case "service-tls-std":
    case "service-tls-alt": return "";
    case "cluster-name": return cluster.clusterName();
    case "cluster-key": return cluster.clusterKey();
    case "cluster-stable": return cluster.clusterKey();
    case "cluster-size": return String(cluster.clusterSize());
    case "rebalance-generation": return String(cluster.partitionGeneration());
    case "replicas": return [...ctx.namespaces.values()].map((ns) => cluster.replicas(ns)).join(";");
    case "replicas-all": return [...ctx.namespaces.values()].map((ns) => cluster.replicas(ns).replace(/^([^:]+):\d+,/, "$1:")).join(";");
    case "replicas-master": return [...ctx.namespaces.values()].map((ns) => masterOnly(cluster.replicas(ns))).join(";");
    case "rack-ids": return [...ctx.namespaces.keys()].map((n) => `${n}:0`).join(";");
    case "user-agent-set": return "ok";
    case "namespaces": return [...ctx.namespaces.keys()].join(";");
    case "namespace": return namespaceInfo(command.slice(slash + 1), ctx);
    case "sets": return "";
    case "bins": return "";
    case "statistics": return statistics(ctx);
    case "health-outliers": return "";
    default: return infoError(ResultCode.PARAMETER, "unrecognized command");
  }
}

function masterOnly(replicas: string): string {
  const [ns, rest] = replicas.split(":");
  const parts = rest!.split(",");
  return `${ns}:${parts[2]}`;
}

function namespaceInfo(nsName: string, ctx: InfoContext): string {
  const ns = ctx.namespaces.get(nsName);
  if (!ns) return infoError(ResultCode.NAMESPACE_NOT_FOUND, `namespace '${nsName}' not found`);
  return kv({
    objects: ns.store.count(),
    "replication-factor": ns.replicationFactor,
    "effective-replication-factor": effectiveReplicationFactor(ns.replicationFactor, ctx.cluster.clusterSize()),
    "default-ttl": ns.defaultTtlSec,
    "storage-engine": ns.storageKind === "lmdb" ? "device" : "memory",
    "storage-kind": ns.storageKind,
    "max-record-size": ns.recordBytesMax,
    "strong-consistency": "false",
  });
}

function statistics(ctx: InfoContext): string {
  const s = ctx.stats;
  let objects = 0;
  for (const ns of ctx.namespaces.values()) objects += ns.store.count();
  return kv({
    "cluster-size": ctx.cluster.clusterSize(),
    "cluster-key": ctx.cluster.clusterKey(),
    uptime: Math.floor((ctx.now() - s.startedMs) / 1000),
    objects,
    client_connections: s.clientConnections,
    client_connections_opened: s.clientConnectionsOpened,
    client_connections_refused: s.clientConnectionsRefused,
    info_requests: s.infoRequests,
    reads: s.reads,
    reads_not_found: s.readsNotFound,
    writes: s.writes,
    deletes: s.deletes,
    operates: s.operates,
    errors: s.errors,
    protocol_errors: s.protocolErrors,
    proxies: s.proxies,
    proxy_failures: s.proxyFailures,
    expired: s.expired,
    replica_writes: s.replicaWrites,
    replica_write_failures: s.replicaWriteFailures,
    dup_resolutions: s.dupResolutions,
    ...(ctx.extraStats?.() ?? {}),
  });
}

function kv(obj: Record<string, string | number>): string {
  return Object.entries(obj).map(([k, v]) => `${k}=${v}`).join(";");
}
