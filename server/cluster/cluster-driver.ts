/**
 * The membership shell: feeds the pure membership core (server/core/membership.ts) with ticks
 * and received messages, and carries its effects out over the heartbeat channel.
 *
 *   timer ──tick──▶ step ──effects──▶ broadcast-heartbeat → HeartbeatChannel.broadcast
 *   UDP   ──msg───▶ step              send {to}          → HeartbeatChannel.send(endpoint of to)
 *                                     install            → onInstall listeners
 *                                     log                → logger
 *
 * It also keeps the endpoint book (node id → host and ports), learned from every datagram, which
 * the fabric and the `peers-clear-std` answer use. The core is the only place that decides
 * membership; this class holds no membership logic of its own.
 */
import crypto from "node:crypto";
import { createMembership, MembershipEffect, MembershipState, step, view } from "../core/membership.js";
import { seededRng, Rng } from "../core/rng.js";
import { Endpoint, HeartbeatChannel } from "./heartbeat.js";

/** Gossiped endpoints remembered at most. */
const GOSSIPED_MAX = 256;

export interface InstalledClusterInfo {
  readonly clusterKey: string;
  readonly succession: readonly string[];
  readonly generation: number;
}

export interface ClusterDriverOptions {
  readonly nodeId: string;
  readonly clusterName: string;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatMissedMax: number;
  readonly self: Endpoint;
  /** Re-resolve seed names every this many ticks. @default 10 */
  readonly resolveEveryTicks?: number;
}

export interface DriverLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export class ClusterDriver {
  private state: MembershipState;
  private readonly rng: Rng;
  private timer: NodeJS.Timeout | undefined;
  private tickCount = 0;
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly lastHeardTick = new Map<string, number>();
  /** Endpoints other nodes told us about, with the tick they last did. */
  private readonly gossiped = new Map<string, { ep: Endpoint; tick: number }>();
  private readonly installListeners: Array<(c: InstalledClusterInfo) => void> = [];
  private installed: InstalledClusterInfo | undefined;
  private readonly resolveEveryTicks: number;

  constructor(
    private readonly options: ClusterDriverOptions,
    private readonly channel: HeartbeatChannel,
    private readonly log: DriverLogger,
  ) {
    this.state = createMembership({
      nodeId: options.nodeId,
      clusterName: options.clusterName,
      incarnation: Date.now(),
      missedMax: options.heartbeatMissedMax,
    });
    this.rng = seededRng(crypto.randomBytes(6).readUIntBE(0, 6));
    this.resolveEveryTicks = options.resolveEveryTicks ?? 10;
  }

  /** Starts ticking. */
  start(): void {
    void this.channel.resolveSeeds();
    this.timer = setInterval(() => this.tick(), this.options.heartbeatIntervalMs);
    this.timer.unref();
    this.tick();
  }

  /** Called with every installed cluster (and at once with the current one, if any). */
  onInstall(listener: (c: InstalledClusterInfo) => void): void {
    this.installListeners.push(listener);
    if (this.installed) listener(this.installed);
  }

  /** Endpoint of a node heard recently (or self). */
  endpointOf(nodeId: string): Endpoint | undefined {
    return nodeId === this.options.nodeId ? this.options.self : this.endpoints.get(nodeId);
  }

  /** A received datagram (from the heartbeat channel). */
  receive(message: unknown, endpoint: Endpoint | undefined, known: ReadonlyArray<[string, Endpoint]> = []): void {
    const from = (message as { from?: unknown })?.from;
    if (endpoint && typeof from === "string" && from !== this.options.nodeId) {
      this.endpoints.set(from, endpoint);
      this.lastHeardTick.set(from, this.tickCount);
    }
    // Gossip: learn where the sender's peers are, to start heartbeating them ourselves. A node
    // we hear directly keeps the endpoint it reported itself.
    for (const [id, ep] of known) {
      if (id === this.options.nodeId || this.lastHeardTick.has(id) && this.tickCount - this.lastHeardTick.get(id)! < this.options.heartbeatMissedMax) continue;
      if (this.gossiped.size >= GOSSIPED_MAX && !this.gossiped.has(id)) continue;
      this.gossiped.set(id, { ep, tick: this.tickCount });
    }
    const kind = (message as { kind?: unknown })?.kind === "heartbeat" ? "heartbeat" : "message";
    this.apply(step(this.state, { kind, message }, this.rng));
  }

  /** Fast failure hint from the fabric (connection refused by a peer's host). */
  peerUnreachable(nodeId: string): void {
    this.apply(step(this.state, { kind: "peer-unreachable", peer: nodeId }, this.rng));
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    this.tickCount++;
    if (this.tickCount % this.resolveEveryTicks === 0) void this.channel.resolveSeeds();
    this.channel.expireDiscovered(this.tickCount - 10 * this.resolveEveryTicks);
    this.apply(step(this.state, { kind: "tick" }, this.rng));
  }

  /** The channel reports discovered addresses with the current tick. */
  discovered(host: string, port: number): void {
    this.channel.addDiscovered(host, port, this.tickCount);
  }

  private apply(result: { state: MembershipState; effects: readonly MembershipEffect[] }): void {
    this.state = result.state;
    for (const fx of result.effects) {
      switch (fx.kind) {
        case "broadcast-heartbeat": {
          const heard = view(this.state).peers;
          const known: Array<[string, Endpoint]> = [];
          const targets: Endpoint[] = [];
          for (const id of heard) {
            const ep = this.endpoints.get(id);
            if (ep) {
              known.push([id, ep]);
              targets.push(ep);
            }
          }
          const fresh = this.tickCount - 4 * this.options.heartbeatMissedMax;
          for (const [id, g] of this.gossiped) {
            if (g.tick < fresh) this.gossiped.delete(id);
            else if (!heard.includes(id)) targets.push(g.ep);
          }
          this.channel.broadcast(fx.message, this.options.self, targets, known);
          break;
        }
        case "send": {
          const ep = this.endpoints.get(fx.to);
          if (ep) this.channel.send(fx.message, this.options.self, ep);
          break;
        }
        case "install": {
          this.installed = { clusterKey: fx.clusterKey, succession: fx.succession, generation: fx.generation };
          this.log.info({ clusterKey: fx.clusterKey, size: fx.succession.length, succession: fx.succession, generation: fx.generation }, "cluster installed");
          for (const l of this.installListeners) l(this.installed);
          break;
        }
        case "log":
          this.log[fx.level === "warn" ? "warn" : fx.level === "info" ? "info" : "debug"]({ event: fx.event, ...fx.fields }, `membership ${fx.event}`);
          break;
      }
    }
  }
}
