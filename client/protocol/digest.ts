/**
 * Digest and partition id, exactly as Aerospike computes them (§5 of the protocol reference):
 * digest = RIPEMD-160(set ‖ key particle type ‖ key bytes) (the namespace is not hashed), and
 * partition id = little-endian u16 of digest[0..1] masked to 12 bits.
 *
 * `crypto.hash` (one shot) is about twice as fast as createHash here (PERF-NOTES); the npm
 * `ripemd160` package is the reference the tests check both against.
 */
import crypto from "node:crypto";
import { DIGEST_BYTES, PARTITION_COUNT, ParticleType } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { integerParticle, Particle } from "./particle.js";

/** Values that can be a record's user key. */
export type UserKey = string | number | bigint | Buffer;

/** The key particle of a user key (integer, string or blob). */
export function keyParticle(key: UserKey): Particle {
  if (typeof key === "string") return { type: ParticleType.STRING, data: Buffer.from(key, "utf8") };
  if (typeof key === "number") {
    if (!Number.isSafeInteger(key)) throw new ProtocolError(`a numeric key must be a safe integer, got ${key}`);
    return integerParticle(key);
  }
  if (typeof key === "bigint") return integerParticle(key);
  if (Buffer.isBuffer(key)) return { type: ParticleType.BLOB, data: key };
  throw new ProtocolError(`a key must be a string, an integer or a Buffer, got ${typeof key}`);
}

type HashFn = (algorithm: string, data: Buffer, encoding: "buffer") => Buffer;
const oneShot = (crypto as unknown as { hash?: HashFn }).hash;

function ripemd160(data: Buffer): Buffer {
  if (oneShot) return oneShot("ripemd160", data, "buffer");
  return crypto.createHash("ripemd160").update(data).digest();
}

/** RIPEMD-160 over set ‖ particle type ‖ key bytes. */
export function computeDigestFromParticle(setName: string, key: Particle): Buffer {
  const setLen = Buffer.byteLength(setName);
  const buf = Buffer.allocUnsafe(setLen + 1 + key.data.length);
  buf.write(setName, 0, "utf8");
  buf[setLen] = key.type;
  key.data.copy(buf, setLen + 1);
  return ripemd160(buf);
}

export function computeDigest(setName: string, key: UserKey): Buffer {
  return computeDigestFromParticle(setName, keyParticle(key));
}

/** Partition of a digest: (d[0] | d[1] << 8) & 4095. */
export function partitionId(digest: Buffer): number {
  if (digest.length !== DIGEST_BYTES) throw new ProtocolError(`digest must be ${DIGEST_BYTES} bytes, got ${digest.length}`);
  return (digest[0]! | (digest[1]! << 8)) & (PARTITION_COUNT - 1);
}
