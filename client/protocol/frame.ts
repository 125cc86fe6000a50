/**
 * Proto framing: the 8-byte header [version u8 = 2][type u8][size u48 BE] and an incremental
 * decoder that turns an arbitrary split of a byte stream into whole frames.
 *
 * Invariants:
 * - Any split of the same byte stream yields the same frames (tested under every chunk split).
 * - A header with a wrong version, an unknown type or a size above `bodyBytesMax` is a fatal
 *   ProtocolError: the stream cannot be resynchronised, so the owner closes the connection; the
 *   decoder stays failed (every later push rethrows the error) and drops what it buffered.
 * - Bodies are zero-copy views into the received chunk when a frame arrives whole; a frame split
 *   across chunks is assembled once, when its last byte arrives (no quadratic re-concatenation).
 *
 *   pending: [chunk][chunk][chunk]      pendingBytes = Σ length
 *             └── header known → need = 8 + size; concat once when pendingBytes ≥ need
 */
import { PROTO_BODY_BYTES_MAX, PROTO_HEADER_BYTES, PROTO_VERSION } from "./constants.js";
import { ProtocolError } from "./errors.js";

export interface Frame {
  readonly type: number;
  readonly body: Buffer;
}

/** Writes a proto header for a body of `size` bytes at `offset`. */
export function writeProtoHeader(buf: Buffer, offset: number, type: number, size: number): void {
  buf[offset] = PROTO_VERSION;
  buf[offset + 1] = type;
  buf.writeUIntBE(size, offset + 2, 6);
}

/** A complete frame (header + body) as one buffer. */
export function encodeFrame(type: number, body: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(PROTO_HEADER_BYTES + body.length);
  writeProtoHeader(buf, 0, type, body.length);
  body.copy(buf, PROTO_HEADER_BYTES);
  return buf;
}

export interface FrameDecoderOptions {
  /** Largest body accepted; larger is a fatal ProtocolError. @default PROTO_BODY_BYTES_MAX */
  bodyBytesMax?: number;
  /** Proto types accepted; others are a fatal ProtocolError. @default 1..4 */
  types?: readonly number[];
}

export class FrameDecoder {
  private readonly bodyBytesMax: number;
  private readonly types: ReadonlySet<number>;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The fatal error, once thrown: a stream that lost sync stays failed (no resync to garbage). */
  private failure: ProtocolError | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    this.bodyBytesMax = options.bodyBytesMax ?? PROTO_BODY_BYTES_MAX;
    this.types = new Set(options.types ?? [1, 2, 3, 4]);
  }

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /**
   * Feeds a chunk; returns every frame it completes, in order. Throws a fatal ProtocolError on a
   * bad header; every later push throws the same error (frames completed earlier in the same
   * chunk are not returned: the connection is closed anyway).
   * The decoder keeps views of `chunk` (the returned bodies, and the bytes of an incomplete frame),
   * so the caller must not overwrite a chunk after pushing it.
   */
  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    const frames: Frame[] = [];
    let buf = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      const need = this.neededBytes();
      if (need === undefined || this.pendingBytes < need) return frames;
      buf = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let offset = 0;
    while (buf.length - offset >= PROTO_HEADER_BYTES) {
      const size = this.checkHeader(buf, offset);
      const end = offset + PROTO_HEADER_BYTES + size;
      if (end > buf.length) break;
      frames.push({ type: buf[offset + 1]!, body: buf.subarray(offset + PROTO_HEADER_BYTES, end) });
      offset = end;
    }
    if (offset < buf.length) {
      const rest = buf.subarray(offset);
      this.pending = [rest];
      this.pendingBytes = rest.length;
      this.neededBytes(); // validate a complete header early
    }
    return frames;
  }

  /** Total length of the frame being assembled, once its header is complete. */
  private neededBytes(): number | undefined {
    if (this.pendingBytes < PROTO_HEADER_BYTES) return undefined;
    let head = this.pending[0]!;
    if (head.length < PROTO_HEADER_BYTES) {
      head = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [head];
    }
    return PROTO_HEADER_BYTES + this.checkHeader(head, 0);
  }

  private checkHeader(buf: Buffer, offset: number): number {
    const version = buf[offset]!;
    const type = buf[offset + 1]!;
    if (version !== PROTO_VERSION) this.fail(`invalid proto version ${version} (expected ${PROTO_VERSION})`);
    if (!this.types.has(type)) this.fail(`unsupported proto type ${type}`);
    const size = buf.readUIntBE(offset + 2, 6);
    if (size > this.bodyBytesMax) this.fail(`frame body of ${size} bytes exceeds the limit of ${this.bodyBytesMax}`);
    return size;
  }

  private fail(message: string): never {
    this.failure = new ProtocolError(message, true);
    this.pending = [];
    this.pendingBytes = 0;
    throw this.failure;
  }
}
