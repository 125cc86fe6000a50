/**
 * PartitionTable: which node holds which copy of every partition, per namespace — a pure value.
 *
 * Concept: every node answers the `replicas` info command with its own claims:
 * `ns:regime,count,b64(replica 0 bitmap),b64(replica 1 bitmap),...;ns2:...` (§8.3). A bitmap has
 * 4096 bits (512 bytes, 684 base64 characters); the bit for partition p is
 * `byte[p >> 3] & (0x80 >> (p & 7))` (MSB first). The table keeps each node's latest claims,
 * stamped with that node's partition-generation, and merges them into a lookup array:
 *
 *   owners[ns].replicas[r][pid] = node name | undefined     r = 0 master, 1.. replicas
 *
 * Merge rule (as the C client): a claim made with a lower regime than the one already recorded
 * for that partition copy is ignored; among equal regimes the most recent claim wins.
 *
 * Invariants:
 * - immutable: every update returns a new table, so a command routes on one consistent snapshot
 *   while the tender builds the next;
 * - input from the network is validated before use as an index (namespace 1..31 bytes, replica
 *   count 1..255, bitmaps of exactly 684 base64 characters); malformed input is a ProtocolError
 *   and the previous table stays in force;
 * - at most REPLICAS_MAX replica indexes and NAMESPACES_MAX namespaces are tracked.
 */
import assert from "node:assert";
import { NAMESPACE_BYTES_MAX, PARTITION_COUNT, ProtocolError } from "./protocol/index.js";

export const BITMAP_BYTES = PARTITION_COUNT / 8;
/** base64 length of a bitmap: 4 × ceil(512 / 3). */
export const BITMAP_BASE64_CHARS = 4 * Math.ceil(BITMAP_BYTES / 3);
/** Replica indexes kept for routing (C keeps 3; shoal may run a higher replication factor). */
export const REPLICAS_MAX = 8;
/** Namespaces tracked (C: 32). */
export const NAMESPACES_MAX = 32;

assert(BITMAP_BASE64_CHARS === 684, "a 4096-bit bitmap is 684 base64 characters");

const BITMAP_RE = new RegExp(`^[A-Za-z0-9+/]{${BITMAP_BASE64_CHARS - 1}}=$`);

/** One node's claims on one namespace. */
export interface NamespaceClaim {
  readonly ns: string;
  readonly regime: number;
  /** bitmaps[r] = the partitions this node holds as replica r. */
  readonly bitmaps: readonly Buffer[];
}

/** True when partition `pid` is set in `bitmap`. */
export function bitmapHas(bitmap: Buffer, pid: number): boolean {
  return (bitmap[pid >> 3]! & (0x80 >> (pid & 7))) !== 0;
}

/** A bitmap with exactly the given partitions set. */
export function bitmapOf(pids: Iterable<number>): Buffer {
  const b = Buffer.alloc(BITMAP_BYTES);
  for (const pid of pids) {
    assert(Number.isInteger(pid) && pid >= 0 && pid < PARTITION_COUNT, `partition id ${pid} out of range`);
    b[pid >> 3]! |= 0x80 >> (pid & 7);
  }
  return b;
}

/** Parses a `replicas` info value. Throws ProtocolError on anything malformed. */
export function parseReplicas(value: string): NamespaceClaim[] {
  const out: NamespaceClaim[] = [];
  for (const section of value.split(";")) {
    if (section.length === 0) continue; // SRV drops the final ';', others may not
    const colon = section.indexOf(":");
    if (colon <= 0) throw new ProtocolError(`replicas: section without "ns:" prefix: ${section.slice(0, 40)}`);
    const ns = section.slice(0, colon);
    if (Buffer.byteLength(ns) > NAMESPACE_BYTES_MAX) throw new ProtocolError(`replicas: namespace "${ns}" is too long`);
    const parts = section.slice(colon + 1).split(",");
    const regime = parseUint(parts[0], "regime", 0xffffffff);
    const count = parseUint(parts[1], "replica count", 255);
    if (count < 1) throw new ProtocolError(`replicas: namespace ${ns} has replica count 0`);
    if (parts.length !== 2 + count) {
      throw new ProtocolError(`replicas: namespace ${ns} announces ${count} bitmaps but carries ${parts.length - 2}`);
    }
    const bitmaps: Buffer[] = [];
    for (let r = 0; r < Math.min(count, REPLICAS_MAX); r++) bitmaps.push(decodeBitmap(parts[2 + r]!, ns, r));
    out.push({ ns, regime, bitmaps });
    if (out.length > NAMESPACES_MAX) throw new ProtocolError(`replicas: more than ${NAMESPACES_MAX} namespaces`);
  }
  return out;
}

/** The inverse of parseReplicas (fake servers and tests). */
export function encodeReplicas(claims: readonly NamespaceClaim[]): string {
  return claims
    .map((c) => `${c.ns}:${c.regime},${c.bitmaps.length},${c.bitmaps.map((b) => b.toString("base64")).join(",")}`)
    .join(";");
}

function decodeBitmap(b64: string, ns: string, r: number): Buffer {
  if (!BITMAP_RE.test(b64)) {
    throw new ProtocolError(`replicas: bitmap ${r} of namespace ${ns} is not ${BITMAP_BASE64_CHARS} base64 characters`);
  }
  const buf = Buffer.from(b64, "base64");
  if (buf.length !== BITMAP_BYTES) throw new ProtocolError(`replicas: bitmap ${r} of namespace ${ns} decodes to ${buf.length} bytes`);
  return buf;
}

function parseUint(s: string | undefined, what: string, max: number): number {
  if (s === undefined || !/^\d{1,10}$/.test(s)) throw new ProtocolError(`replicas: invalid ${what} ${JSON.stringify(s)}`);
  const v = Number(s);
  if (v > max) throw new ProtocolError(`replicas: ${what} ${v} exceeds ${max}`);
  return v;
}

interface NodeClaims {
  readonly generation: number;
  /** Order of arrival across all nodes: later claims win ties. */
  readonly seq: number;
  readonly namespaces: readonly NamespaceClaim[];
}

interface NamespaceOwners {
  /** replicas[r][pid] → node name. */
  readonly replicas: ReadonlyArray<ReadonlyArray<string | undefined>>;
}

export class PartitionTable {
  static readonly EMPTY = new PartitionTable(new Map(), 0, new Map());

  private constructor(
    private readonly claims: ReadonlyMap<string, NodeClaims>,
    private readonly seq: number,
    private readonly owners: ReadonlyMap<string, NamespaceOwners>,
  ) {}

  /** A table where `node`'s claims are replaced by `value` (a `replicas` string or parsed claims). */
  withClaims(node: string, generation: number, value: string | readonly NamespaceClaim[]): PartitionTable {
    const namespaces = typeof value === "string" ? parseReplicas(value) : value;
    const claims = new Map(this.claims);
    claims.set(node, { generation, seq: this.seq + 1, namespaces });
    return new PartitionTable(claims, this.seq + 1, merge(claims));
  }

  /** A table without `node`'s claims (the node left the cluster). */
  withoutNode(node: string): PartitionTable {
    if (!this.claims.has(node)) return this;
    const claims = new Map(this.claims);
    claims.delete(node);
    return new PartitionTable(claims, this.seq, merge(claims));
  }

  /** The partition-generation at which `node`'s claims were taken, if any. */
  generationOf(node: string): number | undefined {
    return this.claims.get(node)?.generation;
  }

  /** Node holding replica `replicaIndex` of partition `pid` of `ns`, if known. */
  lookup(ns: string, pid: number, replicaIndex: number): string | undefined {
    return this.owners.get(ns)?.replicas[replicaIndex]?.[pid];
  }

  /** Number of replica indexes known for `ns` (0 when the namespace is unknown). */
  replicaCount(ns: string): number {
    return this.owners.get(ns)?.replicas.length ?? 0;
  }

  namespaces(): string[] {
    return [...this.owners.keys()].sort();
  }

  /** Nodes that have sent claims. */
  claimants(): string[] {
    return [...this.claims.keys()].sort();
  }

  /** True when `node` holds any copy of any partition. */
  ownsAny(node: string): boolean {
    const c = this.claims.get(node);
    return c !== undefined && c.namespaces.some((n) => n.bitmaps.some((b) => b.some((byte) => byte !== 0)));
  }

  /** Partitions of `ns` that no node claims as master. */
  partitionsWithoutMaster(ns: string): number {
    const masters = this.owners.get(ns)?.replicas[0];
    if (masters === undefined) return PARTITION_COUNT;
    let n = 0;
    for (let pid = 0; pid < PARTITION_COUNT; pid++) if (masters[pid] === undefined) n++;
    return n;
  }
}

function merge(claims: ReadonlyMap<string, NodeClaims>): Map<string, NamespaceOwners> {
  const ordered = [...claims.entries()].sort((a, b) => a[1].seq - b[1].seq);
  const work = new Map<string, { replicas: (string | undefined)[][]; regimes: Uint32Array[] }>();
  for (const [node, claim] of ordered) {
    for (const nc of claim.namespaces) {
      let w = work.get(nc.ns);
      if (w === undefined) {
        w = { replicas: [], regimes: [] };
        work.set(nc.ns, w);
      }
      for (let r = 0; r < nc.bitmaps.length; r++) {
        while (w.replicas.length <= r) {
          w.replicas.push(new Array<string | undefined>(PARTITION_COUNT).fill(undefined));
          w.regimes.push(new Uint32Array(PARTITION_COUNT));
        }
        const owners = w.replicas[r]!;
        const regimes = w.regimes[r]!;
        const bitmap = nc.bitmaps[r]!;
        for (let pid = 0; pid < PARTITION_COUNT; pid++) {
          if (!bitmapHas(bitmap, pid) || nc.regime < regimes[pid]!) continue;
          owners[pid] = node;
          regimes[pid] = nc.regime;
        }
      }
    }
  }
  const out = new Map<string, NamespaceOwners>();
  for (const [ns, w] of work) out.set(ns, { replicas: w.replicas });
  return out;
}
