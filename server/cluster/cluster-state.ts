/**
 * The node's view of its cluster for the data path and for clients: the installed membership,
 * the partition map per replication factor, and the generations clients watch.
 *
 * - `route(ns, pid)` tells the transaction layer who masters a partition and who must receive
 *   its writes; everything else in the service follows from that.
 * - As a `ClusterView` it answers the info commands clients tend with: `peers-clear-std`
 *   (every member but self, with its access address), `replicas` (this node's claims, per
 *   replica index, as base64 bitmaps), `partition-generation` (bumped on every change of what
 *   `replicas` answers), `peers-generation` (bumped when the member list or an address changes).
 *
 * Before the first cluster is installed the node answers partition-generation -1, which clients
 * take as "not ready" (protocol reference §8.3).
 */
import { computePartitionMap, effectiveReplicationFactor, PartitionMap } from "../core/partition-map.js";
import { PARTITION_BITMAP_BYTES, type Ownership } from "../core/partition-ownership.js";
import type { ClusterView } from "../service/info.js";
import type { Namespace } from "../service/namespace.js";
import type { InstalledClusterInfo } from "./cluster-driver.js";
import { Endpoint, hostPort } from "./heartbeat.js";

/** Who serves a partition right now. */
export interface Route {
  /** The node that applies writes and answers reads by default. */
  readonly master: string;
  /** Every node that must apply a write, master first. */
  readonly targets: readonly string[];
}

export interface ClusterRouting {
  readonly selfId: string;
  route(ns: Namespace, pid: number): Route;
  /** May this node answer a read of `pid` (it holds a complete copy)? */
  canRead(ns: Namespace, pid: number): boolean;
  /** Is the ownership of `ns` known (false between a cluster change and the holdings exchange)? */
  routable(ns: Namespace): boolean;
  /** Resolves true once `ns` is routable, false after `timeoutMs`. */
  whenRoutable(ns: Namespace, timeoutMs: number): Promise<boolean>;
  /** Other members whose copy of `pid` still has to merge into this node's (duplicate resolution). */
  duplicates(ns: Namespace, pid: number): readonly string[];
}

const NO_NODES: readonly string[] = Object.freeze([]);

export class ClusterState implements ClusterView, ClusterRouting {
  private installed: InstalledClusterInfo | undefined;
  private maps = new Map<number, PartitionMap>();
  private partitionGen = -1;
  private peersGen = 0;
  private peersSignature = "";
  private readonly replicasCache = new Map<string, string>();
  /** Ownership per namespace for the current cluster, once every member announced holdings. */
  private readonly ownership = new Map<string, Ownership>();
  /** The last ownership of a namespace, kept across a cluster change until the new one is known. */
  private readonly lastOwnership = new Map<string, Ownership>();
  /** Requests waiting for the ownership of a namespace, woken by setOwnership. */
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(
    readonly selfId: string,
    private readonly name: string,
    private readonly namespaces: ReadonlyMap<string, Namespace>,
    private readonly endpointOf: (id: string) => Endpoint | undefined,
  ) {}

  /**
   * Adopts a newly installed cluster and bumps the generations. The maps are computed on first
   * use (`map`), not here: install runs right before the rebalancer announces this node's
   * holdings, and every member waits for every announcement before it serves again. Computing
   * the maps here took 80-160 ms on a loaded node (a joining node cold: ~30 ms even idle), all
   * of it added to every member's pause; first used by the ownership computation, after the
   * announcement went out, they overlap the round trip instead.
   */
  install(c: InstalledClusterInfo): void {
    this.installed = c;
    this.maps = new Map();
    this.partitionGen = Math.max(this.partitionGen + 1, 1);
    this.replicasCache.clear();
    this.refreshPeers();
  }

  /**
   * The ownership of a namespace (null right after a cluster change, until every member has
   * announced what it holds). Every change bumps partition-generation so clients refetch.
   */
  setOwnership(nsName: string, own: Ownership | null): void {
    const ns = this.namespaces.get(nsName);
    const before = ns ? this.replicas(ns) : "";
    if (own) {
      this.ownership.set(nsName, own);
      this.lastOwnership.set(nsName, own);
      const waiters = this.waiting.get(nsName);
      this.waiting.delete(nsName);
      for (const wake of waiters ?? []) wake();
    } else this.ownership.delete(nsName);
    this.replicasCache.delete(nsName);
    // Clients refetch `replicas` on every bump: bump only when this node's claims changed.
    if (!ns || this.replicas(ns) !== before) this.partitionGen++;
  }

  /** Call when an endpoint may have changed (heartbeats). */
  refreshPeers(): void {
    const sig = this.peerList().join(",");
    if (sig !== this.peersSignature) {
      this.peersSignature = sig;
      this.peersGen++;
    }
  }

  get ready(): boolean {
    return this.installed !== undefined;
  }

  get members(): readonly string[] {
    return this.installed?.succession ?? [this.selfId];
  }

  mapFor(ns: Namespace): PartitionMap | undefined {
    return this.map(ns.replicationFactor);
  }

  /** The partition map of the installed cluster for `rf`, computed once per install. */
  private map(rf: number): PartitionMap | undefined {
    if (!this.installed) return undefined;
    let map = this.maps.get(rf);
    if (map === undefined) {
      map = computePartitionMap(this.installed.succession, rf);
      this.maps.set(rf, map);
    }
    return map;
  }

  route(ns: Namespace, pid: number): Route {
    const own = this.ownership.get(ns.name);
    if (own) return { master: own.actingMaster(pid), targets: own.writeTargets(pid) };
    const map = this.map(ns.replicationFactor);
    if (!map) return { master: this.selfId, targets: [this.selfId] };
    // Between a cluster change and the holdings exchange (a round trip): the previous acting
    // master keeps serving if it is still a member; writes reach the new succession too.
    const last = this.lastOwnership.get(ns.name);
    const members = new Set(this.members);
    const prevMaster = last?.actingMaster(pid);
    const master = prevMaster !== undefined && members.has(prevMaster) ? prevMaster : map.master(pid);
    const targets = new Set([master, ...map.succession(pid), ...(last?.writeTargets(pid) ?? []).filter((t) => members.has(t))]);
    return { master, targets: [...targets] };
  }

  /**
   * Reads are answered only from a copy the current ownership calls complete. Between a cluster
   * change and the holdings exchange nothing is known to be complete: client requests wait for
   * the ownership (`whenRoutable`) instead.
   */
  canRead(ns: Namespace, pid: number): boolean {
    return this.ownership.get(ns.name)?.readable(pid, this.selfId) ?? false;
  }

  duplicates(ns: Namespace, pid: number): readonly string[] {
    const own = this.ownership.get(ns.name);
    if (!own || !own.merging(pid)) return NO_NODES;
    return own.map.nodes.filter((n) => n !== this.selfId && own.needsMerge(pid, n));
  }

  routable(ns: Namespace): boolean {
    return this.ownership.has(ns.name);
  }

  whenRoutable(ns: Namespace, timeoutMs: number): Promise<boolean> {
    if (this.routable(ns)) return Promise.resolve(true);
    return new Promise((resolve) => {
      let waiters = this.waiting.get(ns.name);
      if (!waiters) this.waiting.set(ns.name, (waiters = new Set()));
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        waiters!.delete(wake);
        resolve(false);
      }, timeoutMs);
      waiters.add(wake);
    });
  }

  // ── ClusterView ───────────────────────────────────────────────────────────────────────────

  nodeName(): string {
    return this.selfId;
  }
  clusterName(): string {
    return this.name;
  }
  partitionGeneration(): number {
    return this.partitionGen;
  }
  peersGeneration(): number {
    return this.peersGen;
  }
  clusterSize(): number {
    return this.members.length;
  }
  clusterKey(): string {
    return this.installed?.clusterKey ?? "0";
  }

  peersClearStd(): string {
    return `${this.peersGen},,[${this.peerList().join(",")}]`;
  }

  serviceClearStd(): string {
    const self = this.endpointOf(this.selfId);
    return self ? hostPort(self.host, self.service) : "";
  }

  replicas(ns: Namespace): string {
    let value = this.replicasCache.get(ns.name);
    if (value !== undefined) return value;
    const own = this.ownership.get(ns.name);
    // Without an ownership (no cluster yet, or between a cluster change and the holdings
    // exchange) this node claims nothing: the map alone would name owners that hold nothing yet.
    // Clients keep their previous routes. No map is needed for that (the copies a map has:
    // RF, at most one per member), so a cluster change does not compute one before this node
    // announces its holdings (see install).
    const rf = own ? own.map.replicationFactor : this.installed ? effectiveReplicationFactor(ns.replicationFactor, this.members.length) : 1;
    const bitmaps = own
      ? own.replicaBitmaps(this.selfId, rf)
      : Array.from({ length: rf }, () => Buffer.alloc(PARTITION_BITMAP_BYTES));
    value = `${ns.name}:0,${rf},${bitmaps.map((b) => b.toString("base64")).join(",")}`;
    this.replicasCache.set(ns.name, value);
    return value;
  }

  /** `[ID,,[host:port]]` for every member but self whose endpoint is known. */
  private peerList(): string[] {
    const out: string[] = [];
    for (const id of this.members) {
      if (id === this.selfId) continue;
      const ep = this.endpointOf(id);
      if (ep) out.push(`[${id},,[${hostPort(ep.host, ep.service)}]]`);
    }
    return out;
  }
}
