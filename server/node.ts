/**
 * The composition root: builds one node from a validated ServerConfig and owns everything it
 * starts (stores, sweeper, listeners). `start()` resolves once the node serves; `close()` shuts
 * down gracefully in reverse order: stop accepting, finish in-flight requests, stop the sweeper,
 * flush and close LMDB.
 */
import os from "node:os";
import path from "node:path";
import { HttpAdmin, AdminSnapshot } from "./admin/http-admin.js";
import { LocalClusterView } from "./cluster/local-view.js";
import { loadNodeId } from "./cluster/node-identity.js";
import type { ServerConfig } from "./config.js";
import type { Logger } from "./logger.js";
import { answerInfo, ClusterView } from "./service/info.js";
import { KeyLocks } from "./service/key-lock.js";
import type { Namespace } from "./service/namespace.js";
import { ServiceListener } from "./service/service-listener.js";
import { ServiceStats } from "./service/stats.js";
import { ExpirySweeper } from "./storage/expiry.js";
import { LmdbEnvironment } from "./storage/lmdb-store.js";
import { MemoryStore } from "./storage/memory-store.js";

/** Records the sweeper may delete per namespace per tick. */
const SWEEP_BATCH_LIMIT = 10_000;
export const VERSION = "0.1.0";

export interface BoundPorts {
  readonly service: number;
  readonly http: number;
}

export class ShoalNode {
  readonly nodeId: string;
  readonly stats: ServiceStats;
  private readonly namespaces = new Map<string, Namespace>();
  private env: LmdbEnvironment | undefined;
  private sweeper: ExpirySweeper | undefined;
  private service: ServiceListener | undefined;
  private admin: HttpAdmin | undefined;
  private cluster: ClusterView | undefined;
  private ports: BoundPorts | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.nodeId = loadNodeId(config.dataDir, config.nodeId);
    this.stats = new ServiceStats(now());
  }

  get boundPorts(): BoundPorts {
    if (!this.ports) throw new Error("node is not started");
    return this.ports;
  }

  async start(): Promise<BoundPorts> {
    const cfg = this.config;
    this.openNamespaces();
    const accessHost = cfg.accessAddress ?? defaultAccessAddress(cfg.address);
    let servicePort = cfg.servicePort;
    this.cluster = new LocalClusterView(this.nodeId, cfg.clusterName, accessHost, () => servicePort);
    const locks = new KeyLocks();
    this.service = new ServiceListener(
      { host: cfg.address, port: cfg.servicePort, connectionsMax: cfg.connectionsMax, frameBytesMax: cfg.frameBytesMax, idleTimeoutMs: cfg.idleTimeoutMs },
      { namespaces: this.namespaces, locks, stats: this.stats, now: this.now, log: this.log.child({ module: "transaction" }) },
      { cluster: this.cluster, namespaces: this.namespaces, stats: this.stats, now: this.now, version: VERSION },
      this.log.child({ module: "service" }),
    );
    servicePort = await this.service.listen();
    this.admin = new HttpAdmin(cfg.address, cfg.httpPort, () => this.snapshot());
    const httpPort = await this.admin.listen();
    this.sweeper = new ExpirySweeper({
      stores: () => [...this.namespaces.values()].filter((n) => n.nsupPeriodMs > 0).map((n) => n.store),
      intervalMs: Math.max(1, Math.min(...[...this.namespaces.values()].map((n) => n.nsupPeriodMs || 60_000))),
      batchLimit: SWEEP_BATCH_LIMIT,
      now: this.now,
      onError: (err) => this.log.warn({ err }, "expiry sweep failed"),
    });
    this.sweeper.start();
    this.ports = { service: servicePort, http: httpPort };
    this.log.info({ nodeId: this.nodeId, ...this.ports, namespaces: [...this.namespaces.keys()] }, "node serving");
    return this.ports;
  }

  /** Runs info commands locally (for the CLI and tests). */
  info(commands: string[]): Array<[string, string]> {
    if (!this.cluster) throw new Error("node is not started");
    return answerInfo(commands, { cluster: this.cluster, namespaces: this.namespaces, stats: this.stats, now: this.now, version: VERSION });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.log.info({}, "shutting down");
      await this.service?.close();
      await this.admin?.close();
      await this.sweeper?.close();
      await this.env?.close();
      this.log.info({}, "stopped");
    })();
    return this.closing;
  }

  private openNamespaces(): void {
    const cfg = this.config;
    for (const [name, nsCfg] of Object.entries(cfg.namespaces)) {
      let store;
      if (nsCfg.storage === "lmdb") {
        this.env ??= LmdbEnvironment.open({ path: path.join(cfg.dataDir, "records.mdb") });
        store = this.env.store(name);
      } else {
        store = new MemoryStore();
      }
      this.namespaces.set(name, {
        name, store, storageKind: nsCfg.storage, replicationFactor: nsCfg.replicationFactor,
        defaultTtlSec: nsCfg.defaultTtlSec, recordBytesMax: nsCfg.recordBytesMax, nsupPeriodMs: nsCfg.nsupPeriodMs,
      });
    }
  }

  private snapshot(): AdminSnapshot {
    const s = this.stats;
    return {
      node: this.nodeId,
      clusterName: this.config.clusterName,
      clusterSize: this.cluster?.clusterSize() ?? 1,
      version: VERSION,
      uptimeSec: Math.floor((this.now() - s.startedMs) / 1000),
      namespaces: [...this.namespaces.values()].map((n) => ({ name: n.name, objects: n.store.count(), replicationFactor: n.replicationFactor, storage: n.storageKind })),
      counters: {
        client_connections: s.clientConnections,
        client_connections_opened_total: s.clientConnectionsOpened,
        reads_total: s.reads,
        reads_not_found_total: s.readsNotFound,
        writes_total: s.writes,
        deletes_total: s.deletes,
        operates_total: s.operates,
        errors_total: s.errors,
        protocol_errors_total: s.protocolErrors,
        proxies_total: s.proxies,
      },
    };
  }
}

/** The address to advertise when binding a wildcard: the first external IPv4, else loopback. */
export function defaultAccessAddress(bind: string): string {
  if (bind !== "0.0.0.0" && bind !== "::") return bind;
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}
