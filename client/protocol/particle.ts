/**
 * Particles: a bin value's type byte and wire bytes (§4 of the protocol reference).
 *
 * JS → particle: safe integers and bigints → INTEGER (8 bytes BE two's complement); other numbers
 * and `Double` → DOUBLE; string → STRING; Buffer → BLOB; boolean → BOOL; null → NULL; arrays →
 * LIST and objects/Maps → MAP (Aerospike msgpack); GeoJSON → GEOJSON.
 * Particle → JS: the reverse; INTEGER gives a number when it is safe, else a bigint.
 */
import { ParticleType } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { BinValue, Double, GeoJSON, packValue, unpackValue } from "./msgpack.js";

export interface Particle {
  readonly type: number;
  readonly data: Buffer;
}

const EMPTY = Buffer.alloc(0);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export function integerParticle(v: bigint | number): Particle {
  const b = typeof v === "bigint" ? v : BigInt(v);
  if (b < INT64_MIN || b > INT64_MAX) throw new ProtocolError(`integer ${b} does not fit in 64 bits`);
  const data = Buffer.allocUnsafe(8);
  data.writeBigInt64BE(b);
  return { type: ParticleType.INTEGER, data };
}

export function doubleParticle(v: number): Particle {
  const data = Buffer.allocUnsafe(8);
  data.writeDoubleBE(v);
  return { type: ParticleType.DOUBLE, data };
}

/** The particle for a JS value; throws ProtocolError (PARAMETER) for a value with no particle. */
export function encodeParticle(v: BinValue | undefined): Particle {
  if (v === null || v === undefined) return { type: ParticleType.NULL, data: EMPTY };
  switch (typeof v) {
    case "number":
      return Number.isSafeInteger(v) ? integerParticle(v) : doubleParticle(v);
    case "bigint":
      return integerParticle(v);
    case "string":
      return { type: ParticleType.STRING, data: Buffer.from(v, "utf8") };
    case "boolean":
      return { type: ParticleType.BOOL, data: Buffer.from([v ? 1 : 0]) };
  }
  if (Buffer.isBuffer(v)) return { type: ParticleType.BLOB, data: v };
  if (v instanceof Double) return doubleParticle(v.value);
  if (v instanceof GeoJSON) {
    const json = Buffer.from(v.json, "utf8");
    const data = Buffer.alloc(3 + json.length); // flags 0, ncells 0
    json.copy(data, 3);
    return { type: ParticleType.GEOJSON, data };
  }
  if (Array.isArray(v)) return { type: ParticleType.LIST, data: packValue(v) };
  if (typeof v === "object") return { type: ParticleType.MAP, data: packValue(v) };
  throw new ProtocolError(`a value of type ${typeof v} cannot be stored in a bin`);
}

/** Reads a signed integer of 1..8 bytes (servers send 8; C accepts shorter, sign-extending). */
export function readInteger(data: Buffer): bigint {
  if (data.length === 8) return data.readBigInt64BE(0);
  if (data.length === 0 || data.length > 8) throw new ProtocolError(`integer particle of ${data.length} bytes`);
  let v = 0n;
  for (const byte of data) v = (v << 8n) | BigInt(byte);
  const bits = BigInt(data.length * 8);
  return v >= 1n << (bits - 1n) ? v - (1n << bits) : v;
}

function integerValue(data: Buffer): number | bigint {
  const v = readInteger(data);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** The JS value of a particle. */
export function decodeParticle(type: number, data: Buffer): BinValue {
  switch (type) {
    case ParticleType.NULL:
      return null;
    case ParticleType.INTEGER:
      return integerValue(data);
    case ParticleType.DOUBLE:
      if (data.length !== 8) throw new ProtocolError(`double particle of ${data.length} bytes`);
      return data.readDoubleBE(0);
    case ParticleType.STRING:
      return data.toString("utf8");
    case ParticleType.BOOL:
      if (data.length !== 1) throw new ProtocolError(`bool particle of ${data.length} bytes`);
      return data[0] !== 0;
    case ParticleType.LIST:
    case ParticleType.MAP:
      return unpackValue(data);
    case ParticleType.GEOJSON: {
      if (data.length < 3) throw new ProtocolError("geojson particle is truncated");
      const cells = data.readUInt16BE(1);
      const start = 3 + cells * 8;
      if (start > data.length) throw new ProtocolError("geojson particle is truncated");
      return new GeoJSON(data.toString("utf8", start));
    }
    default:
      // BLOB and the language blobs (7..12), HLL: raw bytes.
      return Buffer.from(data);
  }
}
