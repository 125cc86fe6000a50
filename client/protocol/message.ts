/**
 * AS_MSG: the 22-byte message header, fields and ops that follow a type-3 proto header.
 *
 *   [hdr_sz=22][info1][info2][info3][info4][result][generation u32][record_ttl u32]
 *   [transaction_ttl u32][n_fields u16][n_ops u16]
 *   field: [u32 size = 1 + len][u8 type][data]
 *   op:    [u32 size = 4 + name_len + value_len][u8 op][u8 particle][u8 flags][u8 name_len][name][value]
 *
 * Invariants: decode(encode(m)) == m; decoding checks every length against the body before
 * reading, so truncated or lying sizes give a ProtocolError, never a RangeError or an overread.
 * Field and op data are zero-copy views into the body.
 */
import { MSG_HEADER_BYTES, PROTO_HEADER_BYTES, ProtoType } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { writeProtoHeader } from "./frame.js";

export interface Field {
  readonly type: number;
  readonly data: Buffer;
}

export interface Op {
  readonly op: number;
  readonly particleType: number;
  readonly name: string;
  readonly data: Buffer;
}

export interface AsMessage {
  info1: number;
  info2: number;
  info3: number;
  info4: number;
  resultCode: number;
  generation: number;
  recordTtl: number;
  transactionTtl: number;
  fields: Field[];
  ops: Op[];
}

/** An AS_MSG with everything zero and no fields or ops; spread and override. */
export function emptyMessage(): AsMessage {
  return {
    info1: 0, info2: 0, info3: 0, info4: 0, resultCode: 0,
    generation: 0, recordTtl: 0, transactionTtl: 0, fields: [], ops: [],
  };
}

/** Largest field/op count (u16) and op name length (u8) the wire can carry. */
const COUNT_MAX = 0xffff;
const OP_NAME_BYTES_MAX = 0xff;

/**
 * Bytes the message occupies after the proto header. Throws ProtocolError for a message the wire
 * cannot carry (more than 65535 fields or ops, an op name over 255 bytes): those used to wrap
 * silently (the name-length byte) or throw a RangeError (the counts).
 */
export function messageBytes(msg: AsMessage): number {
  checkCounts(msg);
  let size = MSG_HEADER_BYTES;
  for (const f of msg.fields) size += 5 + f.data.length;
  for (const o of msg.ops) size += 8 + checkNameBytes(Buffer.byteLength(o.name)) + o.data.length;
  return size;
}

function checkCounts(msg: AsMessage): void {
  if (msg.fields.length > COUNT_MAX || msg.ops.length > COUNT_MAX) {
    throw new ProtocolError(
      `a message carries at most ${COUNT_MAX} fields and ${COUNT_MAX} ops, got ${msg.fields.length} and ${msg.ops.length}`,
    );
  }
}

function checkNameBytes(nameLen: number): number {
  if (nameLen > OP_NAME_BYTES_MAX) {
    throw new ProtocolError(`bin name of ${nameLen} bytes does not fit the name-length byte (max ${OP_NAME_BYTES_MAX})`);
  }
  return nameLen;
}

/** Writes the message (without proto header) into `buf` at `offset`; returns the end offset. */
export function writeMessage(buf: Buffer, offset: number, msg: AsMessage): number {
  checkCounts(msg);
  buf[offset] = MSG_HEADER_BYTES;
  buf[offset + 1] = msg.info1;
  buf[offset + 2] = msg.info2;
  buf[offset + 3] = msg.info3;
  buf[offset + 4] = msg.info4;
  buf[offset + 5] = msg.resultCode;
  buf.writeUInt32BE(msg.generation >>> 0, offset + 6);
  buf.writeUInt32BE(msg.recordTtl >>> 0, offset + 10);
  buf.writeUInt32BE(msg.transactionTtl >>> 0, offset + 14);
  buf.writeUInt16BE(msg.fields.length, offset + 18);
  buf.writeUInt16BE(msg.ops.length, offset + 20);
  let p = offset + MSG_HEADER_BYTES;
  for (const f of msg.fields) {
    buf.writeUInt32BE(1 + f.data.length, p);
    buf[p + 4] = f.type;
    f.data.copy(buf, p + 5);
    p += 5 + f.data.length;
  }
  for (const o of msg.ops) {
    const nameLen = checkNameBytes(buf.write(o.name, p + 8, "utf8"));
    buf.writeUInt32BE(4 + nameLen + o.data.length, p);
    buf[p + 4] = o.op;
    buf[p + 5] = o.particleType;
    buf[p + 6] = 0;
    buf[p + 7] = nameLen;
    o.data.copy(buf, p + 8 + nameLen);
    p += 8 + nameLen + o.data.length;
  }
  return p;
}

/** One type-3 frame holding one message. */
export function encodeMessage(msg: AsMessage): Buffer {
  const size = messageBytes(msg);
  const buf = Buffer.allocUnsafe(PROTO_HEADER_BYTES + size);
  writeProtoHeader(buf, 0, ProtoType.MSG, size);
  writeMessage(buf, PROTO_HEADER_BYTES, msg);
  return buf;
}

/** Decodes one message starting at `offset`; returns it and the offset after it. */
export function readMessage(body: Buffer, offset = 0): { msg: AsMessage; end: number } {
  if (body.length - offset < MSG_HEADER_BYTES) {
    throw new ProtocolError(`message of ${body.length - offset} bytes is shorter than its 22-byte header`);
  }
  const headerSize = body[offset]!;
  if (headerSize !== MSG_HEADER_BYTES) throw new ProtocolError(`invalid message header size ${headerSize}`);
  const nFields = body.readUInt16BE(offset + 18);
  const nOps = body.readUInt16BE(offset + 20);
  const msg: AsMessage = {
    info1: body[offset + 1]!,
    info2: body[offset + 2]!,
    info3: body[offset + 3]!,
    info4: body[offset + 4]!,
    resultCode: body[offset + 5]!,
    generation: body.readUInt32BE(offset + 6),
    recordTtl: body.readUInt32BE(offset + 10),
    transactionTtl: body.readUInt32BE(offset + 14),
    fields: [],
    ops: [],
  };
  let p = offset + MSG_HEADER_BYTES;
  for (let i = 0; i < nFields; i++) {
    if (body.length - p < 5) throw new ProtocolError(`field ${i} of ${nFields} is truncated`);
    const size = body.readUInt32BE(p);
    if (size < 1 || size > body.length - p - 4) throw new ProtocolError(`field ${i} has invalid size ${size}`);
    msg.fields.push({ type: body[p + 4]!, data: body.subarray(p + 5, p + 4 + size) });
    p += 4 + size;
  }
  for (let i = 0; i < nOps; i++) {
    if (body.length - p < 8) throw new ProtocolError(`op ${i} of ${nOps} is truncated`);
    const size = body.readUInt32BE(p);
    const nameLen = body[p + 7]!;
    if (size < 4 + nameLen || size > body.length - p - 4) throw new ProtocolError(`op ${i} has invalid size ${size}`);
    msg.ops.push({
      op: body[p + 4]!,
      particleType: body[p + 5]!,
      name: body.toString("utf8", p + 8, p + 8 + nameLen),
      data: body.subarray(p + 8 + nameLen, p + 4 + size),
    });
    p += 4 + size;
  }
  return { msg, end: p };
}

/** Decodes a body that holds exactly one message (single-record commands). */
export function decodeMessage(body: Buffer): AsMessage {
  const { msg, end } = readMessage(body, 0);
  if (end !== body.length) throw new ProtocolError(`${body.length - end} trailing bytes after the message`);
  return msg;
}

/** The first field of `type`, if any. */
export function findField(msg: AsMessage, type: number): Field | undefined {
  for (const f of msg.fields) if (f.type === type) return f;
  return undefined;
}
