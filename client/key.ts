/**
 * Key: the address of one record — namespace, set, user key — and its digest.
 *
 * Concept: records are found by RIPEMD-160(set ‖ key particle) (§5); the namespace is not hashed
 * but routes the request and is sent as a field. A key may also be built from a digest alone
 * (for example one taken from a scan), in which case there is no user key to send.
 *
 * Invariants (checked in the constructor, failures are ParameterError, code -2):
 * - namespace is 1..31 UTF-8 bytes, set is 0..63 (null/undefined mean "no set" = ""),
 * - either a user key of a valid type or a 20-byte digest is given; when both are given the
 *   digest is trusted as the caller's (the C client does the same),
 * - `digest` and `partitionId` are computed once, lazily: hashing costs ~2 µs and a key built
 *   only to be compared or printed never pays it.
 */
import { inspect } from "node:util";
import {
  DIGEST_BYTES,
  NAMESPACE_BYTES_MAX,
  SET_NAME_BYTES_MAX,
  UserKey,
  computeDigest,
  partitionId,
} from "./protocol/index.js";
import { parameterError } from "./errors.js";

export type { UserKey };

export class Key {
  /** Namespace name. */
  readonly ns: string;
  /** Set name; "" when the record belongs to no set. */
  readonly set: string;
  /** The user key, when known. */
  readonly key: UserKey | undefined;
  private digestValue: Buffer | undefined;
  private pid: number | undefined;

  constructor(namespace: string, set: string | null | undefined, key: UserKey | undefined, digest?: Buffer) {
    if (typeof namespace !== "string" || namespace.length === 0) {
      throw parameterError(`namespace must be a non-empty string, got ${JSON.stringify(namespace)}`);
    }
    if (Buffer.byteLength(namespace) > NAMESPACE_BYTES_MAX) {
      throw parameterError(`namespace "${namespace}" is longer than ${NAMESPACE_BYTES_MAX} bytes`);
    }
    const setName = set ?? "";
    if (typeof setName !== "string") throw parameterError(`set must be a string, got ${typeof setName}`);
    if (Buffer.byteLength(setName) > SET_NAME_BYTES_MAX) {
      throw parameterError(`set "${setName}" is longer than ${SET_NAME_BYTES_MAX} bytes`);
    }
    if (digest !== undefined) {
      if (!Buffer.isBuffer(digest) || digest.length !== DIGEST_BYTES) {
        throw parameterError(`digest must be a Buffer of ${DIGEST_BYTES} bytes`);
      }
    } else if (key === undefined || key === null) {
      throw parameterError("a key needs a user key (string, integer, bigint or Buffer) or a digest");
    }
    if (key !== undefined && key !== null) validateUserKey(key);
    this.ns = namespace;
    this.set = setName;
    this.key = key ?? undefined;
    this.digestValue = digest === undefined ? undefined : Buffer.from(digest);
  }

  /** RIPEMD-160(set ‖ key particle type ‖ key bytes), 20 bytes. */
  get digest(): Buffer {
    if (this.digestValue === undefined) {
      // The constructor guarantees a user key when no digest was given.
      this.digestValue = computeDigest(this.set, this.key as UserKey);
    }
    return this.digestValue;
  }

  /** Partition 0..4095 of the digest. */
  get partitionId(): number {
    if (this.pid === undefined) this.pid = partitionId(this.digest);
    return this.pid;
  }

  /** console.log shows the address, not the lazily filled caches. */
  [inspect.custom](): string {
    return `Key(${this.toString()})`;
  }

  toString(): string {
    const k = this.key === undefined ? `digest:${this.digest.toString("hex")}` : String(this.key);
    return `${this.ns}:${this.set}:${k}`;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Type checks only: encoding the particle here would allocate twice on the hot path. */
function validateUserKey(key: UserKey): void {
  if (typeof key === "string" || Buffer.isBuffer(key)) return;
  if (typeof key === "number") {
    if (!Number.isSafeInteger(key)) {
      throw parameterError(`a numeric key must be a safe integer (use a bigint beyond 2^53), got ${key}`);
    }
    return;
  }
  if (typeof key === "bigint") {
    if (key < INT64_MIN || key > INT64_MAX) throw parameterError(`a bigint key must fit in 64 bits, got ${key}`);
    return;
  }
  throw parameterError(`a key must be a string, an integer, a bigint or a Buffer, got ${typeof key}`);
}
