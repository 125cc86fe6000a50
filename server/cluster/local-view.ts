/**
 * The cluster as a lone node sees it: every partition of every namespace is its own, with one
 * copy (a replication factor above the cluster size is capped, as Aerospike does).
 *
 * This is the ClusterView the service answers `replicas`, `peers-clear-std` and friends from
 * until the cluster driver (membership + partition map) provides a real one.
 */
import { PARTITION_COUNT } from "../../client/protocol/constants.js";
import type { ClusterView } from "../service/info.js";
import type { Namespace } from "../service/namespace.js";

const ALL_OWNED_B64 = Buffer.alloc(PARTITION_COUNT / 8, 0xff).toString("base64");

export class LocalClusterView implements ClusterView {
  constructor(
    private readonly nodeId: string,
    private readonly name: string,
    private readonly accessHost: string,
    private readonly servicePort: () => number,
  ) {}

  nodeName(): string {
    return this.nodeId;
  }
  clusterName(): string {
    return this.name;
  }
  partitionGeneration(): number {
    return 1;
  }
  peersGeneration(): number {
    return 1;
  }
  peersClearStd(): string {
    return `${this.peersGeneration()},${this.servicePort()},[]`;
  }
  serviceClearStd(): string {
    const host = this.accessHost.includes(":") ? `[${this.accessHost}]` : this.accessHost;
    return `${host}:${this.servicePort()}`;
  }
  replicas(ns: Namespace): string {
    return `${ns.name}:0,1,${ALL_OWNED_B64}`;
  }
  clusterSize(): number {
    return 1;
  }
  clusterKey(): string {
    return this.nodeId;
  }
}
