/**
 * Operations for `client.operate`: typed builders that produce ready-to-send wire ops.
 *
 * Concept: each builder validates its arguments and encodes its value once, at build time, so a
 * bad bin name or value fails in the caller's stack frame (ParameterError, code -2) rather than
 * deep inside a retry loop, and a retried command reuses the bytes. An `Operation` also carries
 * whether it reads or writes, which decides the header bits (as C's `as_operate_set_attr`).
 *
 * Invariants:
 * - bin names are 1..15 UTF-8 bytes (whole-record ops use the empty name),
 * - `readHeader` is not sent on the wire: it only asks for the record's metadata (info1
 *   READ|NOBINDATA when no other op reads bins),
 * - operations are frozen values, safe to reuse across calls.
 */
import {
  BIN_NAME_BYTES_MAX,
  BinValue,
  Double,
  KvError,
  OpType,
  Particle,
  ParticleType,
  doubleParticle,
  encodeParticle,
  integerParticle,
} from "./protocol/index.js";
import { parameterError } from "./errors.js";

/** How an operation affects the header: read bins, read metadata only, or write. */
export type OperationKind = "read" | "readHeader" | "write";

export interface Operation {
  readonly kind: OperationKind;
  /** Wire op code (OpType). */
  readonly op: number;
  /** Bin name; "" for whole-record ops and for a read of all bins. */
  readonly bin: string;
  readonly particleType: number;
  readonly data: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** Throws ParameterError unless `name` is a usable bin name. */
export function validateBinName(name: unknown): asserts name is string {
  if (typeof name !== "string" || name.length === 0) {
    throw parameterError(`bin name must be a non-empty string, got ${JSON.stringify(name)}`);
  }
  const bytes = Buffer.byteLength(name);
  if (bytes > BIN_NAME_BYTES_MAX) {
    throw parameterError(`bin name "${name}" is ${bytes} bytes; the limit is ${BIN_NAME_BYTES_MAX}`);
  }
}

/** The particle of a bin value, with the codec's encoding errors reported as ParameterError. */
export function binParticle(bin: string, value: BinValue | undefined): Particle {
  if (value === undefined) {
    // An object spread with an undefined property must not silently delete a bin.
    throw parameterError(`bin "${bin}" is undefined; use null to delete a bin`);
  }
  try {
    return encodeParticle(value);
  } catch (err) {
    const why = err instanceof KvError ? err.message : String(err);
    throw parameterError(`bin "${bin}": ${why}`, { cause: err });
  }
}

function make(kind: OperationKind, op: number, bin: string, p: Particle = { type: ParticleType.NULL, data: EMPTY }): Operation {
  return Object.freeze({ kind, op, bin, particleType: p.type, data: p.data });
}

/** Read one bin, or every bin when `bin` is omitted (info1 GET_ALL). */
function read(bin?: string): Operation {
  if (bin === undefined) return make("read", OpType.READ, "");
  validateBinName(bin);
  return make("read", OpType.READ, bin);
}

/** Set a bin; `null` deletes the bin. */
function write(bin: string, value: BinValue): Operation {
  validateBinName(bin);
  return make("write", OpType.WRITE, bin, binParticle(bin, value));
}

/** Add to an integer or float bin (creating it from 0). */
function add(bin: string, value: number | bigint | Double): Operation {
  validateBinName(bin);
  let p: Particle;
  if (value instanceof Double) p = doubleParticle(value.value);
  else if (typeof value === "bigint") p = binParticle(bin, value);
  else if (typeof value === "number" && Number.isFinite(value)) {
    p = Number.isSafeInteger(value) ? integerParticle(value) : doubleParticle(value);
  } else {
    throw parameterError(`op.add("${bin}") needs a finite number, a bigint or a Double, got ${String(value)}`);
  }
  return make("write", OpType.ADD, bin, p);
}

function stringOrBytes(name: string, bin: string, value: string | Buffer): Particle {
  if (typeof value === "string") return { type: ParticleType.STRING, data: Buffer.from(value, "utf8") };
  if (Buffer.isBuffer(value)) return { type: ParticleType.BLOB, data: value };
  throw parameterError(`op.${name}("${bin}") needs a string or a Buffer, got ${typeof value}`);
}

/** Append to a string or blob bin. */
function append(bin: string, value: string | Buffer): Operation {
  validateBinName(bin);
  return make("write", OpType.APPEND, bin, stringOrBytes("append", bin, value));
}

/** Prepend to a string or blob bin. */
function prepend(bin: string, value: string | Buffer): Operation {
  validateBinName(bin);
  return make("write", OpType.PREPEND, bin, stringOrBytes("prepend", bin, value));
}

/** Bump the generation and reset the TTL (from the command's ttl). */
function touch(): Operation {
  return make("write", OpType.TOUCH, "");
}

/** Delete the whole record, inside the operate transaction. */
function deleteRecord(): Operation {
  return make("write", OpType.DELETE, "");
}

/** Return generation and TTL without bins. Not sent on the wire; see the file header. */
function readHeader(): Operation {
  return make("readHeader", OpType.READ, "");
}

/** Operation builders: `op.read("a")`, `op.write("a", 1)`, `op.add("n", 5)`, ... */
export const op = Object.freeze({
  read,
  write,
  add,
  /** Alias of `add`, the C/Node name. */
  incr: add,
  append,
  prepend,
  touch,
  delete: deleteRecord,
  readHeader,
});
