/**
 * Rng: a small seeded pseudo-random generator for the pure core and the simulator.
 *
 * The core never calls Math.random or crypto: whatever needs chance (cluster keys, retry jitter)
 * takes an `Rng` argument. The shell seeds one from `crypto.randomBytes` at boot; the simulator
 * seeds one per run from the test seed and `fork()`s a child per node, so that a failing seed
 * replays exactly, event for event.
 *
 * Algorithm: xoshiro128** (Blackman & Vigna), 128 bits of state in four uint32 words, 32-bit
 * output. Chosen because it needs only 32-bit integer arithmetic (Math.imul, >>>), which JS does
 * fast, passes BigCrush, and its state cannot be all zero if seeded through splitmix32.
 *
 *     state  s0 s1 s2 s3      (uint32 each, never all zero)
 *     next   rotl(s1 * 5, 7) * 9, then the xorshift linear step
 *
 * Not cryptographic: a cluster key only has to be unique among the clusters a node will ever see,
 * and 64 random bits make a collision negligible (2^-64 per pair).
 */
import assert from "node:assert/strict";

/** The narrow interface the core depends on. */
export interface Rng {
  /** A uniform uint32 in [0, 2^32). */
  next(): number;
  /** A uniform float in [0, 1). */
  float(): number;
  /** A uniform integer in [0, n), 1 <= n <= 2^32, without modulo bias. */
  int(n: number): number;
  /** True with probability p (default 0.5). */
  bool(p?: number): boolean;
  /** An independent generator seeded from this one (advances this one by four draws). */
  fork(): Rng;
}

const TWO_POW_32 = 2 ** 32;

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** splitmix32: spreads a seed over the state words (and makes an all-zero state impossible). */
function splitmix32(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Xoshiro128 implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Prefer `seededRng(seed)`; this takes the raw state words. */
  constructor(s0: number, s1: number, s2: number, s3: number) {
    assert.ok((s0 | s1 | s2 | s3) !== 0, "xoshiro128 state must not be all zero");
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
  }

  next(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  float(): number {
    return this.next() / TWO_POW_32;
  }

  int(n: number): number {
    assert.ok(Number.isInteger(n) && n >= 1 && n <= TWO_POW_32, `int(n) needs 1 <= n <= 2^32, got ${n}`);
    // Rejection sampling: draws at or above the largest multiple of n would bias small results.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.next();
      if (x < limit) return x % n;
    }
  }

  bool(p = 0.5): boolean {
    assert.ok(p >= 0 && p <= 1, `bool(p) needs 0 <= p <= 1, got ${p}`);
    return this.float() < p;
  }

  fork(): Rng {
    const a = this.next(), b = this.next(), c = this.next(), d = this.next();
    // An all-zero draw is possible in principle; fall back to a fixed non-zero word.
    return (a | b | c | d) === 0 ? new Xoshiro128(1, 0, 0, 0) : new Xoshiro128(a, b, c, d);
  }
}

/** A generator from a seed: any safe integer (both 32-bit halves are used). */
export function seededRng(seed: number): Rng {
  assert.ok(Number.isSafeInteger(seed), `seed must be a safe integer, got ${seed}`);
  const low = seed >>> 0;
  const high = Math.floor(seed / TWO_POW_32) >>> 0;
  const mix = splitmix32(low ^ Math.imul(high, 0x27d4eb2d));
  return new Xoshiro128(mix(), mix(), mix(), mix() | 1);
}

/**
 * A random non-zero 64-bit value as uppercase hex without leading zeros: the format of node ids
 * and cluster keys (Aerospike prints both this way).
 */
export function randomHex64(rng: Rng): string {
  for (;;) {
    const high = rng.next();
    const low = rng.next();
    if (high === 0 && low === 0) continue;
    const text = high === 0 ? low.toString(16) : high.toString(16) + low.toString(16).padStart(8, "0");
    return text.toUpperCase();
  }
}

/** Uniform pick from a non-empty array. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  assert.ok(items.length > 0, "pick from an empty array");
  return items[rng.int(items.length)]!;
}

/** Fisher–Yates shuffle in place; returns the array. */
export function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = items[i]!;
    items[i] = items[j]!;
    items[j] = tmp;
  }
  return items;
}
