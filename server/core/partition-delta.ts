/**
 * Partition delta: how two copies of one partition find the records where they differ without
 * shipping either copy. Pure: no I/O; the rebalancer feeds it entries it reads from the store.
 *
 * Concept. A copy is the set of versions (digest, generation, last-update time). Both sides split
 * the partition into `nb` buckets by digest bits the partition id does not use, and sum a 64-bit
 * mix of each version into its bucket (two 32-bit lanes plus a count). Sums are order-free, so
 * each side folds its range as LMDB yields it. The sender compares the receiver's sums with its
 * own; only differing buckets go further: the receiver lists the versions it holds there (28 bytes
 * each) and the sender streams just the records that supersede them or that the receiver lacks.
 *
 *     sender                         receiver
 *       │── probe(pid) ───────────────▶│  count, nb, bucket sums of its copy
 *       │◀─────────────────────────────│
 *       │  own sums with nb → differing buckets (none: nothing to send)
 *       │── summary(buckets) ─────────▶│  versions in those buckets
 *       │◀─────────────────────────────│
 *       │── chunks: records that supersede the receiver's version or that it lacks
 *
 * An empty receiver (a new node) answers count 0 and gets the plain stream with no summary. A
 * node back from a restart holds most records at the same version, so only the buckets touched
 * while it was away differ. A move that failed halfway resumes the same way: the buckets it
 * already delivered now match.
 *
 * Invariants (test/unit/partition-delta.test.ts):
 *   - equal version sets give equal sums for any order of folding;
 *   - a record the receiver lacks, or holds at an older version, lands in a differing bucket and
 *     passes `wanted` (no missed record, whatever the bucket count);
 *   - a record the receiver holds at the same or a newer version is never wanted.
 * A false "equal" needs a 64-bit sum collision within one bucket (~2⁻⁶⁴ per differing bucket).
 */
import { fmix32 } from "./partition-map.js";
import { supersedes } from "./record-rules.js";

/** Bytes of one version in a summary: digest (20), generation (u16), last-update ms (u48). */
export const VERSION_BYTES = 28;
/** Bytes of one bucket's sum: count, lane 1, lane 2 (u32 each). */
export const BUCKET_SUM_BYTES = 12;
/** Most buckets a partition is split into (a power of two). */
export const BUCKETS_MAX = 1024;
/** Records per bucket aimed at: a differing bucket costs about this many summary versions. */
const RECORDS_PER_BUCKET = 8;

export interface Version {
  readonly generation: number;
  readonly lastUpdateMs: number;
}

/** The bucket count for a copy of `count` records: a power of two in [1, BUCKETS_MAX]. */
export function bucketCount(count: number): number {
  let nb = 1;
  while (nb < BUCKETS_MAX && nb * RECORDS_PER_BUCKET < count) nb *= 2;
  return nb;
}

/** The bucket of a digest among `nb` (digest bytes 2–3: the partition id uses bytes 0–1). */
export function bucketOf(digest: Uint8Array, nb: number): number {
  return ((digest[2]! << 8) | digest[3]!) & (nb - 1);
}

function u32(d: Uint8Array, at: number): number {
  return (d[at]! | (d[at + 1]! << 8) | (d[at + 2]! << 16) | (d[at + 3]! << 24)) >>> 0;
}

/** Folds versions into per-bucket sums. */
export class BucketSums {
  readonly sums: Uint32Array;

  constructor(readonly nb: number) {
    if (!Number.isInteger(nb) || nb < 1 || nb > BUCKETS_MAX || (nb & (nb - 1)) !== 0) {
      throw new RangeError(`bucket count ${nb}: must be a power of two in [1, ${BUCKETS_MAX}]`);
    }
    this.sums = new Uint32Array(nb * 3);
  }

  add(digest: Uint8Array, v: Version): void {
    const lutLo = v.lastUpdateMs >>> 0;
    const lutHi = Math.floor(v.lastUpdateMs / 0x1_0000_0000) >>> 0;
    const h1 = fmix32(u32(digest, 4) ^ Math.imul(v.generation, 0x9e3779b1) ^ lutLo);
    const h2 = fmix32(u32(digest, 8) ^ Math.imul(lutHi + 1, 0x85ebca77) ^ fmix32(u32(digest, 12) ^ v.generation ^ h1));
    const at = bucketOf(digest, this.nb) * 3;
    this.sums[at] = (this.sums[at]! + 1) >>> 0;
    this.sums[at + 1] = (this.sums[at + 1]! + h1) >>> 0;
    this.sums[at + 2] = (this.sums[at + 2]! + h2) >>> 0;
  }

  /** The sums as bytes for the wire. */
  toBuffer(): Buffer {
    return Buffer.from(this.sums.buffer, this.sums.byteOffset, this.sums.byteLength);
  }

  /** Buckets whose sums differ from `other` (the peer's sums, same nb, as sent on the wire). */
  differing(other: Uint8Array): number[] {
    if (other.byteLength !== this.nb * BUCKET_SUM_BYTES) throw new RangeError(`bucket sums: ${other.byteLength} bytes for ${this.nb} buckets`);
    const theirs = new Uint32Array(Uint8Array.from(other).buffer);
    const out: number[] = [];
    for (let b = 0; b < this.nb; b++) {
      const at = b * 3;
      if (theirs[at] !== this.sums[at] || theirs[at + 1] !== this.sums[at + 1] || theirs[at + 2] !== this.sums[at + 2]) out.push(b);
    }
    return out;
  }
}

/** Packs versions into a summary (VERSION_BYTES each). */
export function encodeVersions(entries: ReadonlyArray<{ digest: Uint8Array; version: Version }>): Buffer {
  const out = Buffer.allocUnsafe(entries.length * VERSION_BYTES);
  entries.forEach(({ digest, version }, i) => {
    const at = i * VERSION_BYTES;
    out.set(digest.subarray(0, 20), at);
    out.writeUInt16BE(version.generation & 0xffff, at + 20);
    out.writeUIntBE(Math.max(0, Math.min(version.lastUpdateMs, 2 ** 48 - 1)), at + 22, 6);
  });
  return out;
}

/** Unpacks a summary into digest (hex) → version. */
export function decodeVersions(buf: Uint8Array): Map<string, Version> {
  if (buf.byteLength % VERSION_BYTES !== 0) throw new RangeError(`summary of ${buf.byteLength} bytes is not a multiple of ${VERSION_BYTES}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Map<string, Version>();
  for (let at = 0; at < b.length; at += VERSION_BYTES) {
    out.set(b.toString("hex", at, at + 20), { generation: b.readUInt16BE(at + 20), lastUpdateMs: b.readUIntBE(at + 22, 6) });
  }
  return out;
}

/**
 * What the sender must send, given the differing buckets and the receiver's versions in them:
 * a record in a differing bucket that the receiver lacks or holds at an older version.
 */
export function deltaFilter(nb: number, differing: readonly number[], theirs: ReadonlyMap<string, Version>): (digest: Uint8Array, v: Version) => boolean {
  const set = new Uint8Array(nb);
  for (const b of differing) set[b] = 1;
  return (digest, v) => {
    if (!set[bucketOf(digest, nb)]) return false;
    const their = theirs.get(Buffer.from(digest.buffer, digest.byteOffset, 20).toString("hex"));
    return supersedes(v, their);
  };
}
