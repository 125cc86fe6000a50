/**
 * Aerospike's flavour of MessagePack, used for list (20) and map (19) particles.
 *
 * It differs from plain msgpack in one way that matters: a string inside a list or map is a
 * msgpack *str* whose first content byte is the particle type (0x03 string, 0x04 blob, 23
 * GeoJSON) followed by the bytes; blobs use the str headers too. Ordered maps start with an extra
 * pair (ext key with the map flags, nil value) that the header count includes.
 *
 * Why by hand: msgpackr (used everywhere else for node-to-node frames and storage) always writes
 * JS strings as plain str and Buffers as bin, and decodes str as UTF-8 text, which would lose the
 * type byte and mangle blobs; it has no hook for the str family. This codec is small, and it is
 * checked against the official client in the compatibility tests (lists and maps it writes, we
 * read, and the reverse). Integers and doubles are plain msgpack.
 */
import { ParticleType } from "./constants.js";
import { ProtocolError } from "./errors.js";

/** A double that must stay a double on the wire even when integral (like aerospike.Double). */
export class Double {
  constructor(readonly value: number) {}
}

/** A GeoJSON value (particle 23). */
export class GeoJSON {
  constructor(readonly json: string) {}
}

export type BinValue =
  | null
  | number
  | bigint
  | string
  | boolean
  | Buffer
  | Double
  | GeoJSON
  | BinValue[]
  | Map<BinValue, BinValue>
  | { [key: string]: BinValue };

/** Nesting depth limit for decoding (a hostile payload must not blow the stack). */
const DEPTH_MAX = 64;

class Writer {
  private buf = Buffer.allocUnsafe(256);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }
  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
  int(v: bigint): void {
    this.ensure(9);
    if (v >= 0n) {
      if (v < 128n) this.buf[this.pos++] = Number(v);
      else if (v < 256n) { this.buf[this.pos++] = 0xcc; this.buf[this.pos++] = Number(v); }
      else if (v < 65536n) { this.buf[this.pos++] = 0xcd; this.buf.writeUInt16BE(Number(v), this.pos); this.pos += 2; }
      else if (v < 4294967296n) { this.buf[this.pos++] = 0xce; this.buf.writeUInt32BE(Number(v), this.pos); this.pos += 4; }
      else { this.buf[this.pos++] = 0xcf; this.buf.writeBigUInt64BE(v, this.pos); this.pos += 8; }
    } else {
      if (v >= -32n) this.buf[this.pos++] = Number(v) & 0xff;
      else if (v >= -128n) { this.buf[this.pos++] = 0xd0; this.buf.writeInt8(Number(v), this.pos); this.pos += 1; }
      else if (v >= -32768n) { this.buf[this.pos++] = 0xd1; this.buf.writeInt16BE(Number(v), this.pos); this.pos += 2; }
      else if (v >= -2147483648n) { this.buf[this.pos++] = 0xd2; this.buf.writeInt32BE(Number(v), this.pos); this.pos += 4; }
      else { this.buf[this.pos++] = 0xd3; this.buf.writeBigInt64BE(v, this.pos); this.pos += 8; }
    }
  }
  double(v: number): void {
    this.ensure(9);
    this.buf[this.pos++] = 0xcb;
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }
  /** str-family header for `n` content bytes. */
  strHeader(n: number): void {
    if (n < 32) this.u8(0xa0 | n);
    else if (n < 256) { this.u8(0xd9); this.u8(n); }
    else if (n < 65536) { this.u8(0xda); this.u16(n); }
    else { this.u8(0xdb); this.u32(n); }
  }
  typedBytes(type: number, data: Buffer): void {
    this.strHeader(data.length + 1);
    this.u8(type);
    this.bytes(data);
  }
  arrayHeader(n: number): void {
    if (n < 16) this.u8(0x90 | n);
    else if (n < 65536) { this.u8(0xdc); this.u16(n); }
    else { this.u8(0xdd); this.u32(n); }
  }
  mapHeader(n: number): void {
    if (n < 16) this.u8(0x80 | n);
    else if (n < 65536) { this.u8(0xde); this.u16(n); }
    else { this.u8(0xdf); this.u32(n); }
  }
  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function writeValue(w: Writer, v: BinValue, depth: number): void {
  if (depth > DEPTH_MAX) throw new ProtocolError(`value nests deeper than ${DEPTH_MAX} levels`);
  if (v === null || v === undefined) return w.u8(0xc0);
  if (typeof v === "boolean") return w.u8(v ? 0xc3 : 0xc2);
  if (typeof v === "number") {
    if (Number.isSafeInteger(v)) return w.int(BigInt(v));
    return w.double(v);
  }
  if (typeof v === "bigint") {
    if (v < INT64_MIN || v > INT64_MAX) throw new ProtocolError(`integer ${v} does not fit in 64 bits`);
    return w.int(v);
  }
  if (typeof v === "string") return w.typedBytes(ParticleType.STRING, Buffer.from(v, "utf8"));
  if (Buffer.isBuffer(v)) return w.typedBytes(ParticleType.BLOB, v);
  if (v instanceof Double) return w.double(v.value);
  if (v instanceof GeoJSON) return w.typedBytes(ParticleType.GEOJSON, Buffer.from(v.json, "utf8"));
  if (Array.isArray(v)) {
    w.arrayHeader(v.length);
    for (const item of v) writeValue(w, item, depth + 1);
    return;
  }
  if (v instanceof Map) {
    w.mapHeader(v.size);
    for (const [k, item] of v) {
      writeValue(w, k, depth + 1);
      writeValue(w, item, depth + 1);
    }
    return;
  }
  if (typeof v === "object") {
    const keys = Object.keys(v);
    w.mapHeader(keys.length);
    for (const k of keys) {
      writeValue(w, k, depth + 1);
      writeValue(w, (v as Record<string, BinValue>)[k]!, depth + 1);
    }
    return;
  }
  throw new ProtocolError(`unsupported value type ${typeof v}`);
}

/** Encodes a list or map value (or any nested value) in Aerospike's msgpack flavour. */
export function packValue(v: BinValue): Buffer {
  const w = new Writer();
  writeValue(w, v, 0);
  return Buffer.from(w.result());
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new ProtocolError("msgpack value is truncated");
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  slice(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  get done(): boolean {
    return this.pos === this.buf.length;
  }
  read(): DecodedValue {
    return this.readAt(0);
  }

  private readAt(depth: number): DecodedValue {
    if (depth > DEPTH_MAX) throw new ProtocolError(`msgpack value nests deeper than ${DEPTH_MAX} levels`);
    const b = this.u8();
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if ((b & 0xf0) === 0x80) return this.map(b & 0x0f, depth);
    if ((b & 0xf0) === 0x90) return this.array(b & 0x0f, depth);
    if ((b & 0xe0) === 0xa0) return this.typed(this.slice(b & 0x1f));
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return Buffer.from(this.slice(this.u8()));
      case 0xc5: return Buffer.from(this.slice(this.u16()));
      case 0xc6: return Buffer.from(this.slice(this.u32()));
      case 0xc7: return this.ext(this.u8());
      case 0xc8: return this.ext(this.u16());
      case 0xc9: return this.ext(this.u32());
      case 0xca: { this.need(4); const v = this.buf.readFloatBE(this.pos); this.pos += 4; return v; }
      case 0xcb: { this.need(8); const v = this.buf.readDoubleBE(this.pos); this.pos += 8; return v; }
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: { this.need(8); const v = this.buf.readBigUInt64BE(this.pos); this.pos += 8; return narrow(v); }
      case 0xd0: { this.need(1); const v = this.buf.readInt8(this.pos); this.pos += 1; return v; }
      case 0xd1: { this.need(2); const v = this.buf.readInt16BE(this.pos); this.pos += 2; return v; }
      case 0xd2: { this.need(4); const v = this.buf.readInt32BE(this.pos); this.pos += 4; return v; }
      case 0xd3: { this.need(8); const v = this.buf.readBigInt64BE(this.pos); this.pos += 8; return narrow(v); }
      case 0xd4: return this.ext(1);
      case 0xd5: return this.ext(2);
      case 0xd6: return this.ext(4);
      case 0xd7: return this.ext(8);
      case 0xd8: return this.ext(16);
      case 0xd9: return this.typed(this.slice(this.u8()));
      case 0xda: return this.typed(this.slice(this.u16()));
      case 0xdb: return this.typed(this.slice(this.u32()));
      case 0xdc: return this.array(this.u16(), depth);
      case 0xdd: return this.array(this.u32(), depth);
      case 0xde: return this.map(this.u16(), depth);
      case 0xdf: return this.map(this.u32(), depth);
      default: throw new ProtocolError(`invalid msgpack byte 0x${b.toString(16)}`);
    }
  }

  private typed(content: Buffer): BinValue {
    if (content.length === 0) return "";
    const type = content[0]!;
    const rest = content.subarray(1);
    if (type === ParticleType.STRING) return rest.toString("utf8");
    if (type === ParticleType.GEOJSON) return new GeoJSON(rest.toString("utf8"));
    return Buffer.from(rest);
  }

  private ext(n: number): ExtMarker {
    this.u8(); // ext type (map flags for the ordered-map marker)
    this.slice(n);
    return EXT;
  }

  private array(n: number, depth: number): BinValue[] {
    if (n > this.buf.length - this.pos) throw new ProtocolError(`msgpack array of ${n} items is truncated`);
    const out: BinValue[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = asValue(this.readAt(depth + 1));
    return out;
  }

  private map(n: number, depth: number): BinValue {
    if (n > this.buf.length - this.pos) throw new ProtocolError(`msgpack map of ${n} pairs is truncated`);
    const entries: [BinValue, BinValue][] = [];
    let allStrings = true;
    for (let i = 0; i < n; i++) {
      const k = this.readAt(depth + 1);
      const v = this.readAt(depth + 1);
      if (k === EXT) continue; // ordered-map flags pair
      if (typeof k !== "string" || k === "__proto__") allStrings = false;
      entries.push([asValue(k), asValue(v)]);
    }
    if (!allStrings) return new Map(entries);
    const obj: { [key: string]: BinValue } = {};
    for (const [k, v] of entries) obj[k as string] = v;
    return obj;
  }
}

const EXT = Symbol("ext");
type ExtMarker = typeof EXT;
type DecodedValue = BinValue | ExtMarker;

function asValue(v: DecodedValue): BinValue {
  return v === EXT ? null : v;
}

function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/**
 * Decodes one value in Aerospike's msgpack flavour. Maps whose keys are all strings become plain
 * objects (as the official client returns them); other maps become `Map`s.
 */
export function unpackValue(buf: Buffer): BinValue {
  const r = new Reader(buf);
  const v = asValue(r.read());
  if (!r.done) throw new ProtocolError(`${buf.length - r.pos} trailing bytes after the msgpack value`);
  return v;
}
