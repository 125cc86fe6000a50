/**
 * The service listener: client TCP connections speaking the Aerospike wire protocol.
 *
 * Per connection: bytes → FrameDecoder → one handler call per frame → replies written in request
 * order. A read answers synchronously; a write answers when durable; replies queue behind any
 * earlier unfinished reply so that pipelined requests come back in order:
 *
 *   slots: [write ⏳][read ✓][read ✓]   → nothing written until the write settles, then all three
 *
 * All replies that are ready after one incoming chunk go out in one socket write (PERF-NOTES:
 * batching is worth ~10×).
 *
 * Bounds: frame size (fatal → close), connections (refused above the limit), idle time (closed),
 * replies in flight per connection (reading pauses above the limit) and bytes queued for a slow
 * reader (reading pauses until it drains). A malformed frame header closes that connection only;
 * a malformed message gets a PARAMETER reply and the connection stays usable.
 */
import net from "node:net";
import zlib from "node:zlib";
import { PROTO_HEADER_BYTES, ProtoType } from "../../client/protocol/constants.js";
import { ProtocolError } from "../../client/protocol/errors.js";
import { encodeFrame, Frame, FrameDecoder } from "../../client/protocol/frame.js";
import { decodeInfoRequest, encodeInfoResponse } from "../../client/protocol/info.js";
import { ResultCode } from "../../client/protocol/result-code.js";
import { answerInfo, InfoContext } from "./info.js";
import { handleMessage, headerReply, TransactionContext } from "./transaction.js";

export interface ServiceListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly connectionsMax: number;
  readonly frameBytesMax: number;
  /** 0 = never close idle connections. */
  readonly idleTimeoutMs: number;
  /** Replies outstanding per connection before reading pauses. @default 1024 */
  readonly inFlightMax?: number;
  /** Bytes queued to a slow reader before reading pauses. @default 8 MiB */
  readonly writeQueueBytesMax?: number;
}

export interface ServiceLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

type Reply = Buffer | Promise<Buffer>;

export class ServiceListener {
  private readonly server: net.Server;
  private readonly connections = new Set<ClientConnection>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly options: ServiceListenerOptions,
    private readonly tx: TransactionContext,
    private readonly info: InfoContext,
    private readonly log: ServiceLogger,
  ) {
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.maxConnections = options.connectionsMax;
    this.server.on("drop", () => this.tx.stats.clientConnectionsRefused++);
  }

  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host: this.options.host, port: this.options.port }, () => {
        this.server.off("error", reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes connections. */
  close(graceMs = 5000): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      const deadline = Date.now() + graceMs;
      for (const c of this.connections) c.stopReading();
      while ([...this.connections].some((c) => c.busy) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      for (const c of this.connections) c.end();
      await closed;
    })();
    return this.closing;
  }

  private accept(socket: net.Socket): void {
    this.tx.stats.clientConnectionsOpened++;
    const conn = new ClientConnection(socket, this.options, this.tx, this.info, this.log);
    this.connections.add(conn);
    socket.once("close", () => {
      this.tx.stats.clientConnectionsClosed++;
      this.connections.delete(conn);
    });
  }
}

class ClientConnection {
  private readonly decoder: FrameDecoder;
  private readonly slots: Array<{ reply: Buffer | undefined }> = [];
  private readonly inFlightMax: number;
  private readonly writeQueueBytesMax: number;
  private readonly frameBytesMax: number;
  private paused = false;
  private stopped = false;

  constructor(
    private readonly socket: net.Socket,
    options: ServiceListenerOptions,
    private readonly tx: TransactionContext,
    private readonly info: InfoContext,
    private readonly log: ServiceLogger,
  ) {
    this.frameBytesMax = options.frameBytesMax;
    this.decoder = new FrameDecoder({ bodyBytesMax: options.frameBytesMax });
    this.inFlightMax = options.inFlightMax ?? 1024;
    this.writeQueueBytesMax = options.writeQueueBytesMax ?? 8 * 1024 * 1024;
    socket.setKeepAlive(true, 30_000);
    if (options.idleTimeoutMs > 0) {
      socket.setTimeout(options.idleTimeoutMs, () => {
        this.log.debug({ remote: socket.remoteAddress }, "closing idle client connection");
        socket.destroy();
      });
    }
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("drain", () => this.maybeResume());
    socket.on("error", (err) => this.log.debug({ err: err.message }, "client connection error"));
  }

  get busy(): boolean {
    return this.slots.length > 0;
  }

  stopReading(): void {
    this.stopped = true;
    this.socket.pause();
  }

  end(): void {
    this.socket.end();
    this.socket.destroySoon();
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.tx.stats.protocolErrors++;
      this.log.debug({ err: (err as Error).message, remote: this.socket.remoteAddress }, "closing connection on a bad frame");
      this.flush();
      this.socket.destroy();
      return;
    }
    const out: Buffer[] = [];
    for (const frame of frames) {
      const reply = this.safeHandleFrame(frame);
      if (reply instanceof Promise || this.slots.length > 0) this.enqueue(reply);
      else out.push(reply);
    }
    if (out.length > 0) this.write(out);
    if (this.slots.length >= this.inFlightMax || this.socket.writableLength > this.writeQueueBytesMax) this.pause();
  }

  /** A bug in a handler answers SERVER_ERROR for that request; it never takes the node down. */
  private safeHandleFrame(frame: Frame): Reply {
    try {
      return this.handleFrame(frame);
    } catch (err) {
      this.tx.stats.recordError(ResultCode.SERVER_ERROR);
      this.log.warn({ err }, "request handler failed");
      return frame.type === ProtoType.INFO ? encodeInfoResponse([]) : headerReply(ResultCode.SERVER_ERROR);
    }
  }

  private handleFrame(frame: Frame): Reply {
    switch (frame.type) {
      case ProtoType.INFO:
        this.tx.stats.infoRequests++;
        return encodeInfoResponse(answerInfo(decodeInfoRequest(frame.body), this.info));
      case ProtoType.MSG:
        return handleMessage(frame.body, this.tx);
      case ProtoType.MSG_COMPRESSED:
        return this.handleCompressed(frame.body);
      case ProtoType.ADMIN:
        // No security: the client treats SECURITY_NOT_ENABLED as "login ok, no session".
        return adminReply(ResultCode.SECURITY_NOT_ENABLED);
      default:
        return headerReply(ResultCode.PARAMETER);
    }
  }

  /** [u64 inflated size][zlib of a whole type-3 frame] → handle the inner message. */
  private handleCompressed(body: Buffer): Reply {
    try {
      if (body.length < 8) throw new ProtocolError("compressed frame is too short");
      const size = Number(body.readBigUInt64BE(0));
      if (size > this.frameBytesMax + PROTO_HEADER_BYTES) throw new ProtocolError(`compressed message inflates to ${size} bytes`);
      const inner = zlib.inflateSync(body.subarray(8), { maxOutputLength: Math.max(size, PROTO_HEADER_BYTES) });
      if (inner.length !== size || inner.length < PROTO_HEADER_BYTES || inner[0] !== 2 || inner[1] !== ProtoType.MSG
        || inner.readUIntBE(2, 6) !== size - PROTO_HEADER_BYTES) {
        throw new ProtocolError("compressed message does not hold one AS_MSG frame");
      }
      return handleMessage(inner.subarray(PROTO_HEADER_BYTES), this.tx);
    } catch {
      this.tx.stats.protocolErrors++;
      return headerReply(ResultCode.PARAMETER);
    }
  }

  private enqueue(reply: Reply): void {
    const slot = { reply: reply instanceof Promise ? undefined : reply };
    this.slots.push(slot);
    if (reply instanceof Promise) {
      reply.then(
        (buf) => { slot.reply = buf; },
        () => { slot.reply = headerReply(ResultCode.SERVER_ERROR); },
      ).finally(() => this.flush());
    }
  }

  /** Writes every ready reply at the head of the queue, in one write. */
  private flush(): void {
    const out: Buffer[] = [];
    while (this.slots.length > 0 && this.slots[0]!.reply !== undefined) out.push(this.slots.shift()!.reply!);
    if (out.length > 0) this.write(out);
    this.maybeResume();
  }

  private write(out: Buffer[]): void {
    if (this.socket.destroyed) return;
    this.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private maybeResume(): void {
    if (!this.paused || this.stopped) return;
    if (this.slots.length < this.inFlightMax / 2 && this.socket.writableLength <= this.writeQueueBytesMax) {
      this.paused = false;
      this.socket.resume();
    }
  }
}

/** A 16-byte admin reply header with `result`. */
function adminReply(result: number): Buffer {
  const body = Buffer.alloc(16);
  body[1] = result;
  return encodeFrame(ProtoType.ADMIN, body);
}
