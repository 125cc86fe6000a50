/**
 * NodePool: the connections to one node — data connections for commands, plus one info
 * connection for tending.
 *
 * Concept: a request goes to the open data connection with the fewest requests in flight, as
 * long as that is below `inFlightPerConnMax`; pipelining on a few connections batches better
 * than one request per connection (PERF-NOTES). When every connection is full, a new one is
 * opened (up to `maxConnsPerNode`) and the request waits in a bounded queue; a full queue is a
 * QueueFullError that says which knob to turn. Tending uses its own connection so that info
 * requests never wait behind a long pipeline of data requests.
 *
 *   request ─► pick least-loaded conn (inFlight < max) ─► conn.request
 *                 │ none
 *                 ▼
 *              queue (≤ queuedMax, each entry with its deadline) ─► drained when a reply frees a
 *              slot or a new connection opens
 *
 * Invariants:
 * - conns.length + connecting ≤ maxConnsPerNode;
 * - a queued request is either dispatched once, or rejected once (timeout, queue failure, close);
 * - after `close()`/`destroy()` every request is refused with ConnectionError.
 */
import { Frame, KvError, ProtoType, ResultCode, decodeInfoResponse, encodeInfoRequest } from "./protocol/index.js";
import { ClientResultCode, fromResultCode } from "./errors.js";
import { Connection, ConnectOptions } from "./connection.js";
import { Fifo } from "./fifo.js";

export const MAX_CONNS_PER_NODE_DEFAULT = 8;
/** Pipelined requests per connection before another connection is opened. */
export const IN_FLIGHT_PER_CONN_MAX_DEFAULT = 16;
/** Requests waiting for a connection slot, per node. */
export const QUEUED_MAX_DEFAULT = 4096;
/** Largest info reply accepted on the tend path (§8.1: 512 KiB). */
export const INFO_BODY_BYTES_MAX = 512 * 1024;

export interface Host {
  readonly host: string;
  readonly port: number;
}

export interface NodePoolOptions {
  /** Node name (the `node` info value). */
  readonly name: string;
  readonly address: Host;
  /** @default MAX_CONNS_PER_NODE_DEFAULT */
  readonly maxConnsPerNode?: number;
  /** @default IN_FLIGHT_PER_CONN_MAX_DEFAULT */
  readonly inFlightPerConnMax?: number;
  /** @default QUEUED_MAX_DEFAULT */
  readonly queuedMax?: number;
  /** @default 1000 */
  readonly connectTimeoutMs?: number;
  /** Largest data reply body. @default 128 MiB */
  readonly bodyBytesMax?: number;
  /** Connection factory (tests inject failures here). @default Connection.connect */
  readonly connect?: (opts: ConnectOptions) => Promise<Connection>;
  /** An already validated info connection to adopt (the tender's seed connection). */
  readonly infoConnection?: Connection;
}

interface Queued {
  readonly frame: Buffer;
  readonly type: number;
  readonly isWrite: boolean;
  /** Absolute deadline (performance.now ms), or 0 for none. */
  readonly deadline: number;
  readonly resolve: (f: Frame) => void;
  readonly reject: (e: KvError) => void;
  timer: NodeJS.Timeout | undefined;
}

export class NodePool {
  readonly name: string;
  readonly address: Host;
  private readonly conns: Connection[] = [];
  private readonly queue = new Fifo<Queued>();
  private readonly maxConns: number;
  private readonly inFlightMax: number;
  private readonly queuedMax: number;
  private readonly connectFn: (opts: ConnectOptions) => Promise<Connection>;
  private readonly opts: NodePoolOptions;
  private connecting = 0;
  private lastConnectError: KvError | undefined;
  private infoConn: Connection | undefined;
  private infoConnecting: Promise<Connection> | undefined;
  private closedState = false;

  constructor(opts: NodePoolOptions) {
    this.name = opts.name;
    this.address = opts.address;
    this.opts = opts;
    this.maxConns = opts.maxConnsPerNode ?? MAX_CONNS_PER_NODE_DEFAULT;
    this.inFlightMax = opts.inFlightPerConnMax ?? IN_FLIGHT_PER_CONN_MAX_DEFAULT;
    this.queuedMax = opts.queuedMax ?? QUEUED_MAX_DEFAULT;
    this.connectFn = opts.connect ?? Connection.connect;
    this.infoConn = opts.infoConnection;
  }

  get closed(): boolean {
    return this.closedState;
  }

  /** Counters for health and tests. */
  stats(): { conns: number; connecting: number; inFlight: number; queued: number } {
    let inFlight = 0;
    for (const c of this.conns) inFlight += c.inFlight;
    return { conns: this.conns.length, connecting: this.connecting, inFlight, queued: this.queue.length };
  }

  /** Sends a frame on a data connection; `timeoutMs` covers queueing and the round trip (0 = none). */
  request(frame: Buffer, type: number, isWrite: boolean, timeoutMs: number): Promise<Frame> {
    if (this.closedState) return Promise.reject(this.closedError());
    const conn = this.pick();
    if (conn) return conn.request(frame, type, isWrite, timeoutMs);
    if (this.queue.length >= this.queuedMax) {
      return Promise.reject(fromResultCode(
        ClientResultCode.ASYNC_QUEUE_FULL,
        `node ${this.name}: ${this.queue.length} requests already wait for a connection; raise maxConnsPerNode or lower concurrency`,
      ));
    }
    return new Promise<Frame>((resolve, reject) => {
      const q: Queued = {
        frame, type, isWrite, resolve, reject, timer: undefined,
        deadline: timeoutMs > 0 ? performance.now() + timeoutMs : 0,
      };
      if (timeoutMs > 0) {
        q.timer = setTimeout(() => {
          q.timer = undefined;
          this.queue.remove(q);
          // Never sent: not in doubt, whatever the command.
          reject(fromResultCode(ResultCode.TIMEOUT, `client timeout: node ${this.name} had no free connection within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.queue.push(q);
      this.grow();
    });
  }

  /** Runs info commands on the info connection; resolves command → value. */
  async info(commands: readonly string[], timeoutMs: number): Promise<Map<string, string>> {
    if (this.closedState) throw this.closedError();
    const conn = await this.infoConnection();
    const frame = await conn.request(encodeInfoRequest(commands), ProtoType.INFO, false, timeoutMs);
    return decodeInfoResponse(frame.body);
  }

  /** Graceful: stop taking requests, fail the queued ones, let in-flight ones finish. */
  async close(): Promise<void> {
    if (!this.closedState) {
      this.closedState = true;
      this.failQueue(this.closedError());
    }
    const all = [...this.conns];
    if (this.infoConn) all.push(this.infoConn);
    await Promise.all(all.map((c) => c.close()));
  }

  /** Immediate: fail everything with `err`. */
  destroy(err?: KvError): void {
    this.closedState = true;
    const e = err ?? this.closedError();
    this.failQueue(e);
    for (const c of [...this.conns]) c.destroy(e);
    this.infoConn?.destroy(e);
  }

  private pick(): Connection | undefined {
    let best: Connection | undefined;
    for (const c of this.conns) {
      if (c.state !== "open") continue;
      if (best === undefined || c.inFlight < best.inFlight) best = c;
    }
    return best !== undefined && best.inFlight < this.inFlightMax ? best : undefined;
  }

  /** Opens one more data connection if there is room and work waiting. */
  private grow(): void {
    if (this.closedState || this.queue.length === 0) return;
    if (this.conns.length + this.connecting >= this.maxConns) return;
    // One connection attempt per batch of queued requests: a dead node must not get a SYN storm.
    if (this.connecting > 0 && this.queue.length <= this.inFlightMax * this.connecting) return;
    this.connecting++;
    this.connectFn(this.connectOptions(this.opts.bodyBytesMax, true)).then(
      (conn) => {
        this.connecting--;
        if (this.closedState) {
          conn.destroy();
          return;
        }
        this.lastConnectError = undefined;
        this.conns.push(conn);
        this.drain();
      },
      (err: KvError) => {
        this.connecting--;
        this.lastConnectError = err;
        // Without any connection the queue cannot move: fail it now so retries go elsewhere.
        if (this.conns.length === 0 && this.connecting === 0) this.failQueue(err);
      },
    );
  }

  private drain(): void {
    while (this.queue.length > 0) {
      const conn = this.pick();
      if (!conn) break;
      const q = this.queue.shift()!;
      if (q.timer) clearTimeout(q.timer);
      const left = q.deadline === 0 ? 0 : Math.max(1, Math.ceil(q.deadline - performance.now()));
      conn.request(q.frame, q.type, q.isWrite, left).then(q.resolve, q.reject);
    }
    this.grow();
  }

  private failQueue(err: KvError): void {
    for (const q of this.queue.drain()) {
      if (q.timer) clearTimeout(q.timer);
      q.reject(fromResultCode(err.code, err.message, false, { cause: err }));
    }
  }

  private async infoConnection(): Promise<Connection> {
    if (this.infoConn && this.infoConn.state === "open") return this.infoConn;
    this.infoConnecting ??= this.connectFn(this.connectOptions(INFO_BODY_BYTES_MAX, false)).finally(() => {
      this.infoConnecting = undefined;
    });
    const conn = await this.infoConnecting;
    if (this.closedState) {
      conn.destroy();
      throw this.closedError();
    }
    this.infoConn = conn;
    return conn;
  }

  private connectOptions(bodyBytesMax: number | undefined, data: boolean): ConnectOptions {
    return {
      host: this.address.host,
      port: this.address.port,
      label: `${this.name} ${formatHost(this.address)}`,
      ...(this.opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: this.opts.connectTimeoutMs } : {}),
      ...(bodyBytesMax !== undefined ? { bodyBytesMax } : {}),
      ...(data ? { onSettled: () => this.drain(), onClose: (c: Connection) => this.forget(c) } : {}),
    };
  }

  private forget(conn: Connection): void {
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns.splice(i, 1);
    // Queued work may need a fresh connection now.
    this.grow();
  }

  private closedError(): KvError {
    const why = this.lastConnectError ? ` (last connect error: ${this.lastConnectError.message})` : "";
    return fromResultCode(ResultCode.CONNECTION, `node ${this.name} ${formatHost(this.address)} is closed${why}`);
  }
}

/** "host:port", with IPv6 addresses in brackets. */
export function formatHost(h: Host): string {
  return h.host.includes(":") ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`;
}
