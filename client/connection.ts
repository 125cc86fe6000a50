/**
 * Connection: one TCP connection to a node, carrying many pipelined requests.
 *
 * Concept: the server answers strictly one reply per request, in order (§12), so a connection
 * needs no request ids: replies are matched to a FIFO of pending requests. Frames written in
 * one event-loop tick are coalesced: the first write of a tick corks the socket and a
 * `process.nextTick` uncorks it, so N requests issued together leave in one `writev` syscall
 * (PERF-NOTES: ~10× fewer syscalls than one write per request).
 *
 *   request() ──► pending FIFO [r1][r2][r3]◄── replies arrive in order: r1, r2, r3
 *       │ socket.cork() on the first write of a tick; uncork on nextTick
 *       ▼
 *   socket ──► FrameDecoder(bodyBytesMax) ──► frame → pending.shift()
 *
 * Invariants:
 * - Every pending request settles exactly once: reply, timeout, or connection failure.
 * - A request that timed out stays in the FIFO as "abandoned" (its reply will still come and is
 *   dropped), so the FIFO stays aligned with the server; more than `abandonedMax` of them means
 *   the server is stuck and the connection is destroyed.
 * - A failure (socket error, peer close, unparsable byte stream, reply of the wrong type) fails
 *   every unanswered request with ConnectionError; `inDoubt` is true for writes (all pending
 *   requests were handed to the socket).
 * - `close()` is idempotent and graceful (waits for in-flight replies); `destroy(err)` is
 *   immediate. Both resolve `closed`.
 */
import net from "node:net";
import { Frame, FrameDecoder, KvError, PROTO_BODY_BYTES_MAX, ResultCode } from "./protocol/index.js";
import { fromResultCode } from "./errors.js";
import { Fifo } from "./fifo.js";

/** Timed-out requests whose replies are still owed before the connection counts as stuck. */
export const ABANDONED_MAX_DEFAULT = 16;
export const CONNECT_TIMEOUT_MS_DEFAULT = 1000;

export interface ConnectionOptions {
  /** Largest reply body accepted; larger is a fatal protocol error. @default 128 MiB */
  readonly bodyBytesMax?: number;
  /** @default ABANDONED_MAX_DEFAULT */
  readonly abandonedMax?: number;
  /** For messages: "host:port" or the node name. */
  readonly label?: string;
  /** Called after a reply freed a pipeline slot (the pool drains its queue). */
  readonly onSettled?: (conn: Connection) => void;
  /** Called once when the connection is gone, with the error if it failed. */
  readonly onClose?: (conn: Connection, err: KvError | undefined) => void;
}

export interface ConnectOptions extends ConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** @default CONNECT_TIMEOUT_MS_DEFAULT */
  readonly connectTimeoutMs?: number;
}

interface Pending {
  readonly type: number;
  readonly isWrite: boolean;
  readonly resolve: (frame: Frame) => void;
  readonly reject: (err: KvError) => void;
  timer: NodeJS.Timeout | undefined;
  abandoned: boolean;
}

export type ConnectionState = "open" | "closing" | "closed";

export class Connection {
  /** Opens a TCP connection; rejects with ConnectionError on refusal or after the timeout. */
  static connect(opts: ConnectOptions): Promise<Connection> {
    const label = opts.label ?? `${opts.host}:${opts.port}`;
    const timeoutMs = opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: opts.host, port: opts.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(fromResultCode(ResultCode.CONNECTION, `connect to ${label} timed out after ${timeoutMs} ms; check the address or raise connectTimeoutMs`));
      }, timeoutMs);
      socket.once("error", (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(fromResultCode(ResultCode.CONNECTION, `connect to ${label} failed: ${err.message}`, false, { cause: err }));
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new Connection(socket, { ...opts, label }));
      });
    });
  }

  readonly label: string;
  /** Resolves when the socket is closed, whichever way. */
  readonly closed: Promise<void>;
  private readonly socket: net.Socket;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Fifo<Pending>();
  private readonly abandonedMax: number;
  private readonly opts: ConnectionOptions;
  private abandoned = 0;
  private corked = false;
  private stateValue: ConnectionState = "open";
  private resolveClosed!: () => void;

  constructor(socket: net.Socket, opts: ConnectionOptions = {}) {
    this.socket = socket;
    this.opts = opts;
    this.label = opts.label ?? `${socket.remoteAddress}:${socket.remotePort}`;
    this.abandonedMax = opts.abandonedMax ?? ABANDONED_MAX_DEFAULT;
    this.decoder = new FrameDecoder({ bodyBytesMax: opts.bodyBytesMax ?? PROTO_BODY_BYTES_MAX });
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    socket.setNoDelay(true);
    socket.setKeepAlive(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.destroy(this.lost(err.message, err)));
    socket.on("close", () => {
      this.destroy(this.lost("closed by the server"));
      this.resolveClosed();
    });
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** Requests written and not yet answered, including abandoned ones (the server still owes them). */
  get inFlight(): number {
    return this.pending.length;
  }

  /**
   * Sends one complete frame and resolves with the reply frame. `timeoutMs` 0 = no timeout.
   * Rejects with TimeoutError (inDoubt for writes) or ConnectionError.
   */
  request(frame: Buffer, type: number, isWrite: boolean, timeoutMs: number): Promise<Frame> {
    if (this.stateValue !== "open") {
      return Promise.reject(fromResultCode(ResultCode.CONNECTION, `connection to ${this.label} is ${this.stateValue}`));
    }
    return new Promise<Frame>((resolve, reject) => {
      const p: Pending = { type, isWrite, resolve, reject, timer: undefined, abandoned: false };
      if (timeoutMs > 0) p.timer = setTimeout(() => this.onTimeout(p, timeoutMs), timeoutMs);
      this.pending.push(p);
      this.write(frame);
    });
  }

  /** Graceful: refuse new requests, let in-flight ones finish, then close. Idempotent. */
  close(): Promise<void> {
    if (this.stateValue === "open") {
      this.stateValue = "closing";
      this.maybeFinishClosing();
    }
    return this.closed;
  }

  /** Immediate: fail every unanswered request with `err` (or a plain ConnectionError). Idempotent. */
  destroy(err?: KvError): void {
    if (this.stateValue === "closed") return;
    this.stateValue = "closed";
    for (const p of this.pending.drain()) {
      if (p.timer) clearTimeout(p.timer);
      if (p.abandoned) continue;
      const cause = err ?? this.lost("closed by the client");
      // Every pending request was handed to the socket: a write may have been applied.
      p.reject(fromResultCode(cause.code, cause.message, p.isWrite, { cause: err }));
    }
    this.socket.destroy();
    this.opts.onClose?.(this, err);
  }

  private write(frame: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.destroy(this.lost(`unreadable reply stream (${message})`, err));
      return;
    }
    for (const frame of frames) {
      const p = this.pending.shift();
      if (p === undefined) {
        this.destroy(this.lost("reply without a request"));
        return;
      }
      if (p.timer) clearTimeout(p.timer);
      if (p.abandoned) {
        this.abandoned--;
        continue;
      }
      if (frame.type !== p.type) {
        // The stream is out of step with our FIFO: nothing after this can be trusted.
        this.pending.push(p); // let destroy() fail it together with the rest
        this.destroy(this.lost(`reply of proto type ${frame.type} to a request of type ${p.type}`));
        return;
      }
      p.resolve(frame);
    }
    if (frames.length > 0) {
      this.opts.onSettled?.(this);
      this.maybeFinishClosing();
    }
  }

  private onTimeout(p: Pending, timeoutMs: number): void {
    p.timer = undefined;
    p.abandoned = true;
    this.abandoned++;
    p.reject(fromResultCode(
      ResultCode.TIMEOUT,
      `client timeout: no reply from ${this.label} within ${timeoutMs} ms; raise the policy's totalTimeoutMs/socketTimeoutMs if the server is just slow`,
      p.isWrite,
    ));
    if (this.abandoned > this.abandonedMax) {
      this.destroy(this.lost(`${this.abandoned} requests unanswered past their timeout; the node looks stuck`));
    } else {
      this.maybeFinishClosing();
    }
  }

  private maybeFinishClosing(): void {
    if (this.stateValue === "closing" && this.pending.length === this.abandoned) this.destroy();
  }

  private lost(reason: string, cause?: unknown): KvError {
    return fromResultCode(ResultCode.CONNECTION, `connection to ${this.label}: ${reason}`, false, cause === undefined ? undefined : { cause });
  }
}
