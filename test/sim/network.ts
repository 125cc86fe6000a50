/**
 * SimNetwork: the fake network of the membership simulator (after tigerbeetle's
 * packet_simulator.zig and memberlist's mock_transport.go).
 *
 * Every message goes through a msgpack round trip and comes out deep-frozen, so a message that is
 * not plain data, or a receiver that mutates what it was given, fails here and not in production.
 * (A broadcast is round-tripped once and the frozen copy shared by all receivers: the freeze makes
 * sharing safe and the simulation three times faster.)
 * Every decision (loss, delay, duplication, delivery order) comes from one seeded Rng.
 *
 *   send(from, to) ─► lost? (global loss, per-link loss) ─► duplicated? ─► bucket[now + delay]
 *   deliver(now)   ◄─ bucket[now], shuffled; dropped here if the link is cut or partitioned *now*
 *
 * Topology faults:
 *   partition   groups of node ids; packets cross no group boundary (nodes not listed: group 0)
 *   cut a>b     one-way: a's packets to b are dropped, b's to a pass
 *   link loss   per directed link, on top of the global loss
 */
import { Packr } from "msgpackr";
import type { NodeId } from "../../server/core/membership.js";
import type { Rng } from "../../server/core/rng.js";
import { shuffle } from "../../server/core/rng.js";

export type Channel = "heartbeat" | "message";

export interface Packet {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly channel: Channel;
  readonly message: unknown;
  readonly sentAt: number;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

export class SimNetwork {
  /** Delay of each packet in ticks, uniform in [delayMin, delayMax]; >= 1. */
  delayMin = 1;
  delayMax = 1;
  /** Probability that a packet is lost. */
  loss = 0;
  /** Probability that a packet is delivered twice (at independent delays). */
  duplicate = 0;
  private group = new Map<NodeId, number>();
  private readonly cuts = new Set<string>();
  private readonly linkLoss = new Map<string, number>();
  private readonly buckets = new Map<number, Packet[]>();
  /** Counters for the report. */
  readonly stats = { sent: 0, lost: 0, cut: 0, duplicated: 0, delivered: 0 };

  constructor(private readonly rng: Rng) {}

  /** What a receiver gets: the message after a msgpack round trip, deep-frozen. */
  static wire(message: unknown): unknown {
    return deepFreeze(packr.unpack(packr.pack(message)));
  }

  /** Sends a message prepared by `wire`. */
  send(from: NodeId, to: NodeId, channel: Channel, message: unknown, now: number): void {
    this.stats.sent++;
    const loss = 1 - (1 - this.loss) * (1 - (this.linkLoss.get(`${from}>${to}`) ?? 0));
    if (loss > 0 && this.rng.bool(loss)) {
      this.stats.lost++;
      return;
    }
    const copies = this.duplicate > 0 && this.rng.bool(this.duplicate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const at = now + this.delayMin + this.rng.int(this.delayMax - this.delayMin + 1);
      let bucket = this.buckets.get(at);
      if (bucket === undefined) this.buckets.set(at, (bucket = []));
      bucket.push({ from, to, channel, message, sentAt: now });
    }
  }

  /** Packets due at `now` that the current topology lets through, in random order, decoded. */
  deliver(now: number): Packet[] {
    const bucket = this.buckets.get(now);
    if (bucket === undefined) return [];
    this.buckets.delete(now);
    const out: Packet[] = [];
    for (const packet of shuffle(this.rng, bucket)) {
      if (!this.passes(packet.from, packet.to)) {
        this.stats.cut++;
        continue;
      }
      this.stats.delivered++;
      out.push(packet);
    }
    return out;
  }

  /** Packets still in flight. */
  inFlight(): number {
    let n = 0;
    for (const bucket of this.buckets.values()) n += bucket.length;
    return n;
  }

  /** Whether a packet from `a` to `b` gets through the topology (ignoring random loss). */
  passes(a: NodeId, b: NodeId): boolean {
    return (this.group.get(a) ?? 0) === (this.group.get(b) ?? 0) && !this.cuts.has(`${a}>${b}`);
  }

  partition(groups: readonly (readonly NodeId[])[]): void {
    this.group = new Map();
    groups.forEach((members, i) => members.forEach((id) => this.group.set(id, i + 1)));
  }

  healPartition(): void {
    this.group = new Map();
  }

  cut(from: NodeId, to: NodeId): void {
    this.cuts.add(`${from}>${to}`);
  }

  uncut(from: NodeId, to: NodeId): void {
    this.cuts.delete(`${from}>${to}`);
  }

  cutList(): string[] {
    return [...this.cuts];
  }

  setLinkLoss(from: NodeId, to: NodeId, loss: number): void {
    if (loss <= 0) this.linkLoss.delete(`${from}>${to}`);
    else this.linkLoss.set(`${from}>${to}`, loss);
  }

  linkLossList(): string[] {
    return [...this.linkLoss.keys()];
  }

  /** Every topology fault and every random fault off; delay kept. Packets in flight stay in flight. */
  healAll(): void {
    this.group = new Map();
    this.cuts.clear();
    this.linkLoss.clear();
    this.loss = 0;
    this.duplicate = 0;
  }

  describe(): string {
    const groups = new Map<number, NodeId[]>();
    for (const [id, g] of this.group) groups.set(g, [...(groups.get(g) ?? []), id]);
    const parts = [...groups.values()].map((ids) => `{${ids.join(" ")}}`).join("|");
    return `delay=${this.delayMin}..${this.delayMax} loss=${this.loss.toFixed(2)} dup=${this.duplicate.toFixed(2)}` +
      (parts ? ` partition=${parts}` : "") + (this.cuts.size ? ` cuts=${[...this.cuts].join(",")}` : "") +
      (this.linkLoss.size ? ` linkloss=${[...this.linkLoss].map(([k, v]) => `${k}:${v.toFixed(2)}`).join(",")}` : "");
  }
}
