/**
 * Fabric: node-to-node RPC over TCP on the fabric port (replica writes, proxies, migrations).
 *
 * Frame: [u32 BE length][msgpackr body]; body = [kind, id, type, payload]
 *   kind 0 request  (id > 0: a reply is expected; id 0: one-way)
 *   kind 1 reply ok (payload = result)
 *   kind 2 reply error (payload = { code, message })
 *   kind 3 hello    (first frame of an outgoing connection: { nodeId, clusterName })
 *
 * Many requests are in flight per connection; replies are matched by id, in any order. Frames
 * written in one event-loop turn go out in one socket write (corking), which matters for
 * replication throughput. Two outgoing connections per peer (channels, as Aerospike's fabric
 * has): "ctrl" for everything a client or the cluster waits on (replica writes, proxies,
 * holdings), "bulk" for migration data. A replica write queued behind megabytes of migration
 * chunks in one TCP stream waited seconds (client timeouts while a node joined); on its own
 * connection it is read at once. Each is opened lazily, re-opened after an error with a backoff;
 * a request that cannot be sent fails at once with a retryable error rather than waiting.
 *
 * Bounds: frame size, requests in flight per peer, bytes queued per socket (back-pressure: a
 * request over the bound fails with `FabricBusyError`), request timeout, reconnect backoff.
 */
import net from "node:net";
import { Packr } from "msgpackr";
import { ResultCode } from "../../client/protocol/result-code.js";
import { KvError } from "../../client/protocol/errors.js";

export const FabricKind = { REQUEST: 0, REPLY: 1, ERROR: 2, HELLO: 3 } as const;

/** Which connection to a peer a request goes on (see the header). */
export type FabricChannel = "ctrl" | "bulk";

export interface FabricOptions {
  readonly nodeId: string;
  readonly clusterName: string;
  readonly host: string;
  readonly port: number;
  /** @default 64 MiB */
  readonly frameBytesMax?: number;
  /** @default 8192 */
  readonly inFlightMax?: number;
  /** @default 32 MiB */
  readonly queueBytesMax?: number;
  /** @default 5000 */
  readonly requestTimeoutMs?: number;
  /** @default 200 */
  readonly reconnectDelayMs?: number;
  /**
   * Called when a peer's fabric port refuses a connection: its process is gone (the host
   * answered). Used as a fast failure hint for membership. @default none
   */
  readonly onPeerUnreachable?: (peer: string) => void;
}

export interface FabricLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** A handler answers a request; a thrown KvError goes back as an error reply with its code. */
export type FabricHandler = (payload: unknown, from: string) => unknown | Promise<unknown>;

/** Where a peer's fabric listens; the membership layer learns this from heartbeats. */
export type AddressBook = (nodeId: string) => { host: string; port: number } | undefined;

export class FabricError extends KvError {
  constructor(message: string, inDoubt = false, code: number = ResultCode.TIMEOUT) {
    super(code, message, inDoubt);
  }
}

const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export function encodeFabricFrame(body: unknown[]): Buffer {
  const payload = packr.pack(body);
  const frame = Buffer.allocUnsafe(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, 4);
  return frame;
}

/**
 * Splits a stream into frames; throws on an oversized frame. Chunks of an unfinished frame are
 * kept as a list and joined once, when the frame is complete (as client/protocol/frame.ts does):
 * joining on every chunk would copy a 1 MiB migration chunk ~16 times over.
 */
export class FabricFrameReader {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly frameBytesMax: number) {}

  push(chunk: Buffer): unknown[][] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const out: unknown[][] = [];
    while (this.size >= 4) {
      if (this.chunks[0]!.length < 4) this.join();
      const len = this.chunks[0]!.readUInt32BE(0);
      if (len > this.frameBytesMax) throw new FabricError(`fabric frame of ${len} bytes exceeds ${this.frameBytesMax}`);
      if (this.size < 4 + len) break;
      if (this.chunks[0]!.length < 4 + len) this.join();
      const head = this.chunks[0]!;
      const body = packr.unpack(head.subarray(4, 4 + len));
      if (!Array.isArray(body)) throw new FabricError("fabric frame is not an array");
      out.push(body);
      if (head.length > 4 + len) this.chunks[0] = head.subarray(4 + len);
      else this.chunks.shift();
      this.size -= 4 + len;
    }
    return out;
  }

  private join(): void {
    this.chunks = [Buffer.concat(this.chunks, this.size)];
  }
}

/** Writes frames, coalescing those of one event-loop turn into one socket write. */
class CorkedWriter {
  private queue: Buffer[] = [];
  private scheduled = false;
  constructor(private readonly socket: net.Socket) {}

  write(frame: Buffer): void {
    this.queue.push(frame);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const q = this.queue;
      this.queue = [];
      if (!this.socket.destroyed && q.length) this.socket.write(q.length === 1 ? q[0]! : Buffer.concat(q));
    });
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** An outgoing connection to one peer. */
class PeerLink {
  private socket: net.Socket | undefined;
  private writer: CorkedWriter | undefined;
  private connected = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private retryAt = 0;

  constructor(
    readonly peer: string,
    private readonly fabric: Fabric,
    readonly channel: FabricChannel,
  ) {}

  request(type: string, payload: unknown, timeoutMs: number, oneWay = false): Promise<unknown> {
    const opts = this.fabric.opts;
    if (!this.ensureSocket()) return Promise.reject(new FabricError(`no fabric connection to ${this.peer}`));
    if (this.pending.size >= opts.inFlightMax) return Promise.reject(new FabricError(`too many requests in flight to ${this.peer}`, false, ResultCode.DEVICE_OVERLOAD));
    if (this.socket!.writableLength > opts.queueBytesMax) return Promise.reject(new FabricError(`fabric queue to ${this.peer} is full`, false, ResultCode.DEVICE_OVERLOAD));
    if (oneWay) {
      this.writer!.write(encodeFabricFrame([FabricKind.REQUEST, 0, type, payload]));
      return Promise.resolve(undefined);
    }
    const id = this.nextId++;
    if (this.nextId > 0x7fffffff) this.nextId = 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new FabricError(`fabric request ${type} to ${this.peer} timed out after ${timeoutMs} ms`, true));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.writer!.write(encodeFabricFrame([FabricKind.REQUEST, id, type, payload]));
    });
  }

  private ensureSocket(): boolean {
    if (this.socket && !this.socket.destroyed) return true;
    if (Date.now() < this.retryAt) return false;
    const addr = this.fabric.addressOf(this.peer);
    if (!addr) return false;
    const socket = net.connect({ host: addr.host, port: addr.port, noDelay: true });
    this.socket = socket;
    this.writer = new CorkedWriter(socket);
    this.connected = false;
    this.writer.write(encodeFabricFrame([FabricKind.HELLO, 0, "", { nodeId: this.fabric.opts.nodeId, clusterName: this.fabric.opts.clusterName }]));
    const reader = new FabricFrameReader(this.fabric.opts.frameBytesMax);
    socket.on("connect", () => (this.connected = true));
    socket.on("data", (chunk: Buffer) => {
      let frames: unknown[][];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      for (const f of frames) this.onReply(f);
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      this.fabric.log.debug({ peer: this.peer, channel: this.channel, err: err.message }, "fabric link error");
      if (err.code === "ECONNREFUSED") this.fabric.opts.onPeerUnreachable?.(this.peer);
    });
    socket.on("close", () => {
      if (!this.connected) this.retryAt = Date.now() + this.fabric.opts.reconnectDelayMs;
      // An established link that drops: probe at once, so a dead process is noticed in
      // milliseconds (connection refused) rather than after the heartbeat timeout.
      else setTimeout(() => this.probe(), 20).unref();
      this.connected = false;
      const err = new FabricError(`fabric connection to ${this.peer} closed`, true);
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        this.pending.delete(id);
        p.reject(err);
      }
    });
    return true;
  }

  open(): void {
    this.ensureSocket();
  }

  /** Opens the link again if nothing else did (its error reports an unreachable peer). */
  private probe(): void {
    if (this.fabric.isClosed || this.forgotten || (this.socket && !this.socket.destroyed)) return;
    this.ensureSocket();
  }

  private onReply(frame: unknown[]): void {
    const [kind, id, , payload] = frame as [number, number, string, unknown];
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (kind === FabricKind.REPLY) p.resolve(payload);
    else {
      const e = payload as { code?: number; message?: string } | undefined;
      p.reject(new KvError(e?.code ?? ResultCode.SERVER_ERROR, e?.message ?? "fabric error"));
    }
  }

  private forgotten = false;

  close(): void {
    this.forgotten = true;
    this.socket?.destroy();
  }
}

type ResolvedOptions = Required<FabricOptions>;

export class Fabric {
  readonly opts: ResolvedOptions;
  private readonly server: net.Server;
  private readonly handlers = new Map<string, FabricHandler>();
  private readonly links = new Map<string, PeerLink>();
  private readonly inbound = new Set<net.Socket>();
  private closed = false;

  get isClosed(): boolean {
    return this.closed;
  }

  constructor(
    options: FabricOptions,
    readonly addressOf: AddressBook,
    readonly log: FabricLogger,
  ) {
    this.opts = {
      frameBytesMax: 64 * 1024 * 1024, inFlightMax: 8192, queueBytesMax: 32 * 1024 * 1024,
      requestTimeoutMs: 5000, reconnectDelayMs: 200, onPeerUnreachable: () => undefined, ...options,
    };
    this.server = net.createServer({ noDelay: true }, (s) => this.accept(s));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host: this.opts.host, port: this.opts.port }, () => {
        this.server.off("error", reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Registers the handler of a request type. */
  handle(type: string, handler: FabricHandler): void {
    this.handlers.set(type, handler);
  }

  /** Sends a request to `peer` and resolves with its reply. */
  request(peer: string, type: string, payload: unknown, timeoutMs = this.opts.requestTimeoutMs, channel: FabricChannel = "ctrl"): Promise<unknown> {
    if (this.closed) return Promise.reject(new FabricError("fabric is closed"));
    return this.link(peer, channel).request(type, payload, timeoutMs);
  }

  /** Fire-and-forget. */
  send(peer: string, type: string, payload: unknown): void {
    if (this.closed) return;
    this.link(peer, "ctrl").request(type, payload, 0, true).catch(() => undefined);
  }

  /** Opens the link to `peer` now (kept open, so its loss is noticed at once). */
  connect(peer: string): void {
    if (!this.closed) this.link(peer, "ctrl").open();
  }

  /** Drops the links to a peer that left the cluster. */
  forget(peer: string): void {
    for (const channel of ["ctrl", "bulk"] as const) {
      const key = linkKey(peer, channel);
      this.links.get(key)?.close();
      this.links.delete(key);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.links.values()) l.close();
    for (const s of this.inbound) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private link(peer: string, channel: FabricChannel): PeerLink {
    const key = linkKey(peer, channel);
    let l = this.links.get(key);
    if (!l) {
      l = new PeerLink(peer, this, channel);
      this.links.set(key, l);
    }
    return l;
  }

  private accept(socket: net.Socket): void {
    this.inbound.add(socket);
    socket.on("close", () => this.inbound.delete(socket));
    socket.on("error", () => undefined);
    const reader = new FabricFrameReader(this.opts.frameBytesMax);
    const writer = new CorkedWriter(socket);
    let from: string | undefined;
    socket.on("data", (chunk: Buffer) => {
      let frames: unknown[][];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "closing fabric connection on a bad frame");
        socket.destroy();
        return;
      }
      for (const f of frames) {
        const [kind, id, type, payload] = f as [number, number, string, unknown];
        if (kind === FabricKind.HELLO) {
          const hello = payload as { nodeId?: string; clusterName?: string };
          if (hello?.clusterName !== this.opts.clusterName || typeof hello.nodeId !== "string") {
            socket.destroy();
            return;
          }
          from = hello.nodeId;
          continue;
        }
        if (kind !== FabricKind.REQUEST || from === undefined) {
          socket.destroy();
          return;
        }
        this.dispatch(from, id, type, payload, writer);
      }
    });
  }

  private dispatch(from: string, id: number, type: string, payload: unknown, writer: CorkedWriter): void {
    const handler = this.handlers.get(type);
    const reply = (kind: number, body: unknown) => {
      if (id !== 0) writer.write(encodeFabricFrame([kind, id, "", body]));
    };
    if (!handler) return reply(FabricKind.ERROR, { code: ResultCode.PARAMETER, message: `unknown fabric request '${type}'` });
    let result: unknown;
    try {
      result = handler(payload, from);
    } catch (err) {
      return reply(FabricKind.ERROR, errorBody(err));
    }
    if (result instanceof Promise) {
      result.then((v) => reply(FabricKind.REPLY, v ?? null), (err) => reply(FabricKind.ERROR, errorBody(err)));
    } else reply(FabricKind.REPLY, result ?? null);
  }
}

function linkKey(peer: string, channel: FabricChannel): string {
  return channel === "ctrl" ? peer : `${peer}\0${channel}`;
}

function errorBody(err: unknown): { code: number; message: string } {
  if (err instanceof KvError) return { code: err.code, message: err.message };
  return { code: ResultCode.SERVER_ERROR, message: err instanceof Error ? err.message : String(err) };
}
