/**
 * Heartbeat channel: UDP datagrams on the heartbeat port carrying membership messages.
 *
 * Envelope (msgpackr): { m: <membership message>, ep: { host, hb, fabric, service },
 * k: [[nodeId, endpoint], ...] } — every datagram tells the receiver where the sender can be
 * reached (ep) and where the peers the sender hears can be reached (k, gossip), so one seed is
 * enough for every node to find every other; seeds and mDNS only supply addresses to start.
 *
 * Why UDP: a heartbeat is small, periodic and loss-tolerant by design (a peer is lost after
 * `missedMax` silent intervals); UDP needs no connection state, so a dead or partitioned peer
 * costs nothing, and a network partition looks exactly like silence. Datagrams above
 * `datagramBytesMax` are dropped on receipt (a 64-node heartbeat is ~3.3 KB).
 *
 * Seeds are `host:port` names re-resolved (all addresses) every `resolveEveryTicks` ticks, so a
 * compose service name or a Kubernetes headless service finds every peer as it appears.
 */
import dgram from "node:dgram";
import dns from "node:dns/promises";
import net from "node:net";
import { Packr } from "msgpackr";

export interface Endpoint {
  /** Address peers and clients use to reach the node. */
  readonly host: string;
  readonly hb: number;
  readonly fabric: number;
  readonly service: number;
}

export interface HeartbeatChannelOptions {
  readonly bindHost: string;
  readonly port: number;
  readonly seeds: ReadonlyArray<{ host: string; port: number }>;
  /** @default 16 KiB */
  readonly datagramBytesMax?: number;
}

export interface HeartbeatLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** A received membership message with the sender's endpoint and the endpoints it gossips. */
export type HeartbeatReceiver = (message: unknown, endpoint: Endpoint | undefined, known: ReadonlyArray<[string, Endpoint]>) => void;

/** Gossiped endpoints per datagram, at most. */
const GOSSIP_MAX = 64;

const packr = new Packr({ useRecords: false, moreTypes: false });

export class HeartbeatChannel {
  private readonly socket: dgram.Socket;
  private readonly datagramBytesMax: number;
  /** Resolved seed addresses, "host:port". */
  private seedAddresses = new Set<string>();
  /** Addresses discovered (mDNS) with the tick they were last reported. */
  private readonly discovered = new Map<string, number>();
  private closed = false;
  private resolving = false;

  constructor(
    private readonly options: HeartbeatChannelOptions,
    private readonly receive: HeartbeatReceiver,
    private readonly log: HeartbeatLogger,
  ) {
    this.datagramBytesMax = options.datagramBytesMax ?? 16 * 1024;
    const type = net.isIPv6(options.bindHost) ? "udp6" : "udp4";
    this.socket = dgram.createSocket({ type, reuseAddr: false });
    this.socket.on("message", (msg, rinfo) => this.onMessage(msg, rinfo));
    this.socket.on("error", (err) => this.log.warn({ err: err.message }, "heartbeat socket error"));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.socket.once("error", reject);
      this.socket.bind({ address: this.options.bindHost, port: this.options.port }, () => {
        this.socket.off("error", reject);
        resolve(this.socket.address().port);
      });
    });
  }

  /** Re-resolves the seed names (every address of each); failures are logged and retried later. */
  async resolveSeeds(): Promise<void> {
    if (this.resolving || this.options.seeds.length === 0) return;
    this.resolving = true;
    try {
      const next = new Set<string>();
      await Promise.all(this.options.seeds.map(async (seed) => {
        if (net.isIP(seed.host)) {
          next.add(hostPort(seed.host, seed.port));
          return;
        }
        try {
          for (const a of await dns.lookup(seed.host, { all: true })) next.add(hostPort(a.address, seed.port));
        } catch (err) {
          this.log.debug({ seed: seed.host, err: (err as Error).message }, "seed does not resolve (yet)");
        }
      }));
      this.seedAddresses = next;
    } finally {
      this.resolving = false;
    }
  }

  /** An address reported by discovery (mDNS); kept for `ttlTicks` ticks after its last report. */
  addDiscovered(host: string, port: number, tick: number): void {
    if (this.discovered.size > 1024 && !this.discovered.has(hostPort(host, port))) return;
    this.discovered.set(hostPort(host, port), tick);
  }

  /** Forgets discovered addresses not reported since `oldestTick`. */
  expireDiscovered(oldestTick: number): void {
    for (const [addr, tick] of this.discovered) if (tick < oldestTick) this.discovered.delete(addr);
  }

  /** Sends one envelope to every address in `peers` plus every seed and discovered address. */
  broadcast(message: unknown, self: Endpoint, peers: Iterable<Endpoint>, known: ReadonlyArray<[string, Endpoint]> = []): void {
    const buf = this.encode(message, self, known.slice(0, GOSSIP_MAX));
    const targets = new Set<string>([...this.seedAddresses, ...this.discovered.keys()]);
    for (const p of peers) targets.add(hostPort(p.host, p.hb));
    targets.delete(hostPort(self.host, self.hb));
    for (const t of targets) this.sendTo(buf, t);
  }

  /** Sends one envelope to one endpoint. */
  send(message: unknown, self: Endpoint, to: Endpoint): void {
    this.sendTo(this.encode(message, self), hostPort(to.host, to.hb));
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private encode(message: unknown, self: Endpoint, known?: ReadonlyArray<[string, Endpoint]>): Buffer {
    return packr.pack(known?.length ? { m: message, ep: self, k: known } : { m: message, ep: self });
  }

  private sendTo(buf: Buffer, target: string): void {
    if (this.closed) return;
    const { host, port } = splitHostPort(target);
    this.socket.send(buf, port, host, (err) => {
      if (err) this.log.debug({ target, err: err.message }, "heartbeat send failed");
    });
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length > this.datagramBytesMax) return;
    let env: { m?: unknown; ep?: Partial<Endpoint>; k?: unknown };
    try {
      env = packr.unpack(msg) as typeof env;
    } catch {
      return;
    }
    if (!env || typeof env !== "object" || env.m === undefined) return;
    const known: Array<[string, Endpoint]> = [];
    if (Array.isArray(env.k)) {
      for (const item of env.k.slice(0, GOSSIP_MAX)) {
        if (!Array.isArray(item) || typeof item[0] !== "string") continue;
        const ep = parseEndpoint(item[1] as Partial<Endpoint>, "");
        if (ep && ep.host !== "") known.push([item[0], ep]);
      }
    }
    this.receive(env.m, parseEndpoint(env.ep, rinfo.address), known);
  }
}

function parseEndpoint(ep: Partial<Endpoint> | undefined, source: string): Endpoint | undefined {
  if (!ep || typeof ep !== "object") return undefined;
  const ports = [ep.hb, ep.fabric, ep.service];
  if (!ports.every((p) => Number.isInteger(p) && (p as number) > 0 && (p as number) < 65536)) return undefined;
  // A node advertising a wildcard is reachable where its packet came from.
  const host = typeof ep.host === "string" && net.isIP(ep.host) && ep.host !== "0.0.0.0" && ep.host !== "::" ? ep.host : source;
  return { host, hb: ep.hb!, fabric: ep.fabric!, service: ep.service! };
}

export function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(":");
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(s.slice(i + 1)) };
}
