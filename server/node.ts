/**
 * The composition root: builds one node from a validated ServerConfig and owns everything it
 * starts (stores, sweeper, listeners). `start()` resolves once the node serves; `close()` shuts
 * down gracefully in reverse order: stop accepting, finish in-flight requests, stop the sweeper,
 * flush and close LMDB.
 */
import os from "node:os";
import path from "node:path";
import { HttpAdmin, AdminSnapshot } from "./admin/http-admin.js";
import { ClusterDriver } from "./cluster/cluster-driver.js";
import { ClusterState } from "./cluster/cluster-state.js";
import { Fabric } from "./cluster/fabric.js";
import { Endpoint, HeartbeatChannel } from "./cluster/heartbeat.js";
import { MdnsDiscovery } from "./cluster/mdns-discovery.js";
import { warmUpClusterCode } from "./cluster/warm-up.js";
import { Rebalancer } from "./cluster/rebalancer.js";
import { LoopDelay } from "./service/loop-delay.js";
import { ROSTER_FILE } from "./cluster/roster.js";
import { TombstoneReclaimer } from "./cluster/tombstone-reclaimer.js";
import { loadNodeId } from "./cluster/node-identity.js";
import type { ServerConfig } from "./config.js";
import type { Logger } from "./logger.js";
import { applyReplicaWrite, answerDuplicate, handleProxy } from "./service/replica.js";
import { FabricRequest, TransactionContext } from "./service/transaction.js";
import { KeyLocks } from "./service/key-lock.js";
import type { Namespace } from "./service/namespace.js";
import { ServiceListener } from "./service/service-listener.js";
import { ServiceStats } from "./service/stats.js";
import { ExpirySweeper } from "./storage/expiry.js";
import { LmdbEnvironment } from "./storage/lmdb-store.js";
import { MemoryStore } from "./storage/memory-store.js";
import { LmdbOwedSyncs, MemoryOwedSyncs, OWED_SYNCS_DB } from "./storage/owed-syncs.js";

/** Records the sweeper may delete per namespace per tick. */
const SWEEP_BATCH_LIMIT = 10_000;
export const VERSION = "0.1.0";

export interface BoundPorts {
  readonly service: number;
  readonly fabric: number;
  readonly heartbeat: number;
  readonly http: number;
}

/** How long start() waits for the first cluster (alone or joined) before giving up. */
const FIRST_CLUSTER_WAIT_MS = 30_000;

export class ShoalNode {
  readonly nodeId: string;
  readonly stats: ServiceStats;
  private readonly namespaces = new Map<string, Namespace>();
  private env: LmdbEnvironment | undefined;
  private sweeper: ExpirySweeper | undefined;
  private service: ServiceListener | undefined;
  private admin: HttpAdmin | undefined;
  private cluster: ClusterState | undefined;
  private fabric: Fabric | undefined;
  private heartbeat: HeartbeatChannel | undefined;
  private driver: ClusterDriver | undefined;
  private peerTimer: NodeJS.Timeout | undefined;
  private mdns: MdnsDiscovery | undefined;
  private rebalancer: Rebalancer | undefined;
  private readonly loopDelay = new LoopDelay();
  private reclaimer: TombstoneReclaimer | undefined;
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
    let self: Endpoint = { host: accessHost, hb: 0, fabric: 0, service: 0 };
    const endpointOf = (id: string) => (id === this.nodeId ? self : this.driver?.endpointOf(id));
    const cluster = new ClusterState(this.nodeId, cfg.clusterName, this.namespaces, endpointOf);
    this.cluster = cluster;

    this.fabric = new Fabric(
      {
        nodeId: this.nodeId, clusterName: cfg.clusterName, host: cfg.address, port: cfg.fabricPort, frameBytesMax: cfg.frameBytesMax + 1024 * 1024,
        onPeerUnreachable: (peer) => this.driver?.peerUnreachable(peer),
      },
      (id) => {
        const ep = endpointOf(id);
        return ep ? { host: ep.host, port: ep.fabric } : undefined;
      },
      this.log.child({ module: "fabric" }),
    );
    const tx: TransactionContext = {
      namespaces: this.namespaces, locks: new KeyLocks(), stats: this.stats, now: this.now,
      log: this.log.child({ module: "transaction" }), cluster, peers: this.fabric,
      onReplicaData: (ns, pid) => this.rebalancer?.noteReplicaData(ns, pid) ?? true,
      onReplicaFailed: (ns, pid, target) => this.rebalancer?.noteReplicaFailed(ns, pid, target),
    };
    this.fabric.handle(FabricRequest.PROXY, (payload) => handleProxy(payload, tx));
    this.fabric.handle(FabricRequest.REPLICA_WRITE, (payload) => applyReplicaWrite(payload, tx));
    this.fabric.handle(FabricRequest.DUP_RES, (payload) => answerDuplicate(payload, tx));
    const fabricPort = await this.fabric.listen();
    const rebalanceLog = this.log.child({ module: "rebalance" });
    // Owed resyncs outlive the process beside the records; a memory-only node's records do not.
    const env = this.env;
    const owedSyncs = env
      ? new LmdbOwedSyncs(env.metaDb(OWED_SYNCS_DB), env, (err) => rebalanceLog.warn({ err }, "recording an owed resync failed"))
      : new MemoryOwedSyncs();
    this.rebalancer = new Rebalancer(
      this.nodeId, this.namespaces, cluster, this.fabric, tx, rebalanceLog,
      { outMax: cfg.migrationsOutMax, intakeMax: cfg.migrationsInMax }, path.join(cfg.dataDir, ROSTER_FILE), owedSyncs,
    );
    const rebalancer = this.rebalancer;
    this.reclaimer = new TombstoneReclaimer({
      namespaces: this.namespaces, now: this.now, log: this.log.child({ module: "tombstones" }),
      ownership: (ns) => rebalancer.ownership(ns), absentCount: () => rebalancer.absentMembers().length,
    });

    this.service = new ServiceListener(
      { host: cfg.address, port: cfg.servicePort, connectionsMax: cfg.connectionsMax, frameBytesMax: cfg.frameBytesMax, idleTimeoutMs: cfg.idleTimeoutMs },
      tx,
      { cluster, namespaces: this.namespaces, stats: this.stats, now: this.now, version: VERSION, extraStats: () => this.extraStats() },
      this.log.child({ module: "service" }),
    );
    const servicePort = await this.service.listen();

    this.heartbeat = new HeartbeatChannel(
      { bindHost: cfg.address, port: cfg.heartbeatPort, seeds: cfg.seeds },
      (message, endpoint, known) => this.driver?.receive(message, endpoint, known),
      this.log.child({ module: "heartbeat" }),
    );
    const heartbeatPort = await this.heartbeat.listen();
    self = { host: accessHost, hb: heartbeatPort, fabric: fabricPort, service: servicePort };

    this.driver = new ClusterDriver(
      { nodeId: this.nodeId, clusterName: cfg.clusterName, heartbeatIntervalMs: cfg.heartbeatIntervalMs, heartbeatMissedMax: cfg.heartbeatMissedMax, self },
      this.heartbeat,
      this.log.child({ module: "membership" }),
    );
    const firstCluster = new Promise<void>((resolve) => this.driver!.onInstall((c) => {
      cluster.install(c);
      this.rebalancer!.install(c);
      for (const id of this.fabricPeers) if (!c.succession.includes(id)) this.fabric!.forget(id);
      this.fabricPeers = new Set(c.succession);
      for (const id of c.succession) if (id !== this.nodeId) this.fabric!.connect(id);
      resolve();
    }));
    // Before the first cluster change: its computations would otherwise run cold (warm-up.ts).
    const warmMs = warmUpClusterCode(Math.max(...[...this.namespaces.values()].map((n) => n.replicationFactor)));
    this.log.debug({ ms: Math.round(warmMs) }, "cluster code warmed up");
    this.driver.start();
    if (cfg.multicast) {
      // Multicast DNS only proposes addresses; heartbeats decide membership.
      this.mdns = new MdnsDiscovery(
        { clusterName: cfg.clusterName, nodeId: this.nodeId, host: accessHost, heartbeatPort, log: this.log.child({ module: "mdns" }),
          ...(cfg.address !== "0.0.0.0" && !cfg.address.includes(":") ? { interface: cfg.address } : {}) },
        (peer) => this.driver?.discovered(peer.host, peer.port),
      );
      await this.mdns.start();
    }
    // Addresses can change without a membership change (a restarted peer on new ports).
    this.peerTimer = setInterval(() => cluster.refreshPeers(), 1000);
    this.peerTimer.unref();

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
    await withTimeout(firstCluster, FIRST_CLUSTER_WAIT_MS, "no cluster installed");
    // Ready once it knows who holds what (a node of one: at once), so that its first `replicas`
    // answer names partitions. Bounded: a peer slow to announce must not keep it from serving.
    await Promise.all([...this.namespaces.values()].map((ns) => cluster.whenRoutable(ns, FIRST_CLUSTER_WAIT_MS)));
    this.ports = { service: servicePort, fabric: fabricPort, heartbeat: heartbeatPort, http: httpPort };
    this.log.info({ nodeId: this.nodeId, ...this.ports, namespaces: [...this.namespaces.keys()] }, "node serving");
    return this.ports;
  }

  private fabricPeers = new Set<string>();

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.log.info({}, "shutting down");
      await this.service?.close();
      this.driver?.close();
      this.rebalancer?.close();
      this.reclaimer?.close();
      this.loopDelay.close();
      await this.mdns?.close();
      if (this.peerTimer) clearInterval(this.peerTimer);
      await this.heartbeat?.close();
      await this.fabric?.close();
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
        tombstoneReclaimAgeMs: nsCfg.tombstoneReclaimAgeMs,
      });
    }
  }

  /** Counters beyond the service's: migrations, tombstones, event-loop delay. */
  private extraStats(): Record<string, number> {
    return { ...this.rebalancer?.counters(), tombstones_reclaimed: this.reclaimer?.reclaimed ?? 0, ...this.loopDelay.counters() };
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
      members: this.cluster?.members ?? [this.nodeId],
      migrations: this.rebalancer?.snapshot() ?? {},
      counters: {
        ...this.extraStats(),
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
        proxy_failures_total: s.proxyFailures,
        expired_total: s.expired,
        replica_writes_total: s.replicaWrites,
        replica_write_failures_total: s.replicaWriteFailures,
        dup_resolutions_total: s.dupResolutions,
      },
    };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The address to advertise when binding a wildcard: the first external IPv4, else loopback. */
export function defaultAccessAddress(bind: string): string {
  if (bind !== "0.0.0.0" && bind !== "::") return bind;
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}
