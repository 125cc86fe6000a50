/**
 * A scripted fake shoal/Aerospike node for client tests (the idea of ioredis
 * test/helpers/mock_server.ts): a net.Server on 127.0.0.1, port 0, that speaks the wire protocol
 * through the shared codec.
 *
 * - Info: answers the validation and tend commands (node, partition-generation, build,
 *   peers-generation, peers-clear-std, replicas) from a mutable `info` map; by default it owns
 *   every partition of namespace "test" (replication factor 1) and has no peers.
 * - AS_MSG: records every request (decoded) and answers through `handler`; the default handler
 *   is a tiny in-memory store (get/exists/put/remove/touch/operate, generation and exists bits)
 *   so round trips work. A handler may instead close the socket, hang, delay, or send raw bytes.
 * - Replies on one socket stay in request order even when a handler is async (a per-socket
 *   promise chain), as a real server does.
 */
import net from "node:net";
import {
  AsMessage, FieldType, FrameDecoder, Info1, Info2, Info3, OpType, ParticleType, ProtoType,
  decodeInfoRequest, decodeMessage, emptyMessage, encodeFrame, encodeInfoResponse, encodeMessage, findField,
  readInteger, CITRUSLEAF_EPOCH_SEC,
} from "../../client/protocol/index.js";
import { bitmapOf, encodeReplicas } from "../../client/internal.js";

export type FakeReply =
  | AsMessage
  | { readonly close: true }
  | { readonly hang: true }
  | { readonly delayMs: number; readonly reply: AsMessage }
  | { readonly raw: Buffer };

export type FakeHandler = (msg: AsMessage, node: FakeNode) => FakeReply | undefined | Promise<FakeReply | undefined>;

export interface FakeNodeOptions {
  readonly name?: string;
  readonly build?: string;
  readonly partitionGeneration?: number;
  /** `replicas` value. @default every partition of "test", replica 0 */
  readonly replicas?: string;
  /** `peers-clear-std` value. @default "1,,[]" */
  readonly peers?: string;
  readonly handler?: FakeHandler;
  /** Port to listen on. @default 0 (any free port) */
  readonly port?: number;
}

const ALL = Array.from({ length: 4096 }, (_, i) => i);
export const ALL_PARTITIONS = bitmapOf(ALL);
export const NO_PARTITIONS = bitmapOf([]);

/** replicas value where this node holds the given replica indexes of every partition. */
export function replicasValue(ns: string, count: number, held: readonly number[], regime = 0): string {
  const bitmaps = Array.from({ length: count }, (_, r) => (held.includes(r) ? ALL_PARTITIONS : NO_PARTITIONS));
  return encodeReplicas([{ ns, regime, bitmaps }]);
}

interface StoredRecord {
  bins: Map<string, { type: number; data: Buffer }>;
  generation: number;
  voidTime: number;
}

export class FakeNode {
  static async start(opts: FakeNodeOptions = {}): Promise<FakeNode> {
    const node = new FakeNode(opts);
    await new Promise<void>((resolve, reject) => {
      node.server.once("error", reject);
      node.server.listen(opts.port ?? 0, "127.0.0.1", resolve);
    });
    node.port = (node.server.address() as net.AddressInfo).port;
    return node;
  }

  port = 0;
  readonly host = "127.0.0.1";
  /** AS_MSG requests received, in order. */
  readonly requests: AsMessage[] = [];
  /** Info requests received (command lists), in order. */
  readonly infoRequests: string[][] = [];
  /** Number of socket reads that carried AS_MSG frames, and the frames in each. */
  readonly msgChunks: number[] = [];
  readonly info = new Map<string, string>();
  handler: FakeHandler | undefined;
  readonly store = new Map<string, StoredRecord>();
  readonly sockets = new Set<net.Socket>();
  /** Connections accepted so far. */
  accepted = 0;
  private readonly server: net.Server;

  private constructor(opts: FakeNodeOptions) {
    this.handler = opts.handler;
    this.info.set("node", opts.name ?? "BB9000000000001");
    this.info.set("build", opts.build ?? "8.0.0.0");
    this.info.set("partition-generation", String(opts.partitionGeneration ?? 1));
    this.info.set("peers-generation", "1");
    this.info.set("peers-clear-std", opts.peers ?? "1,,[]");
    this.info.set("replicas", opts.replicas ?? replicasValue("test", 1, [0]));
    this.server = net.createServer((s) => this.onSocket(s));
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get name(): string {
    return this.info.get("node")!;
  }

  /** Info requests whose command list equals `cmds`. */
  infoCount(cmds: readonly string[]): number {
    return this.infoRequests.filter((r) => r.join("\n") === cmds.join("\n")).length;
  }

  /** Drops every client connection (a crash, as seen from the client). */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onSocket(socket: net.Socket): void {
    this.sockets.add(socket);
    this.accepted++;
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const decoder = new FrameDecoder();
    let chain: Promise<void> = Promise.resolve();
    socket.on("data", (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      const msgFrames = frames.filter((f) => f.type === ProtoType.MSG).length;
      if (msgFrames > 0) this.msgChunks.push(msgFrames);
      for (const f of frames) {
        chain = chain.then(() => this.answer(socket, f.type, f.body));
      }
    });
  }

  private async answer(socket: net.Socket, type: number, body: Buffer): Promise<void> {
    if (socket.destroyed) return;
    if (type === ProtoType.INFO) {
      const cmds = decodeInfoRequest(body);
      this.infoRequests.push(cmds);
      socket.write(encodeInfoResponse(cmds.map((c) => [c, this.info.get(c) ?? "ERROR:4:unrecognized command"] as const)));
      return;
    }
    const msg = decodeMessage(body);
    this.requests.push(msg);
    const reply = (await this.handler?.(msg, this)) ?? this.serve(msg);
    if ("close" in reply) socket.destroy();
    else if ("hang" in reply) return;
    else if ("raw" in reply) socket.write(reply.raw);
    else if ("delayMs" in reply) {
      await new Promise((r) => setTimeout(r, reply.delayMs));
      if (!socket.destroyed) socket.write(encodeMessage(reply.reply));
    } else socket.write(encodeMessage(reply));
  }

  /** The default in-memory semantics. */
  serve(msg: AsMessage): AsMessage {
    const digest = findField(msg, FieldType.DIGEST)!.data.toString("hex");
    const rec = this.store.get(digest);
    const isWrite = (msg.info2 & Info2.WRITE) !== 0;
    if (!isWrite) {
      if (!rec) return reply(2);
      if (msg.info1 & Info1.NOBINDATA) return reply(0, rec);
      const names = msg.info1 & Info1.GET_ALL ? [...rec.bins.keys()] : msg.ops.map((o) => o.name);
      return reply(0, rec, names.filter((n) => rec.bins.has(n)).map((n) => [n, rec.bins.get(n)!] as const));
    }
    if (msg.info2 & Info2.DELETE) {
      if (!rec) return reply(2);
      this.store.delete(digest);
      return reply(0);
    }
    if (rec && msg.info2 & Info2.CREATE_ONLY) return reply(5);
    if (!rec && msg.info3 & (Info3.UPDATE_ONLY | Info3.REPLACE_ONLY)) return reply(2);
    if (rec && msg.info2 & Info2.GENERATION && rec.generation !== msg.generation) return reply(3);
    const next: StoredRecord = rec && !(msg.info3 & (Info3.REPLACE_ONLY | Info3.CREATE_OR_REPLACE))
      ? { bins: new Map(rec.bins), generation: rec.generation, voidTime: rec.voidTime }
      : { bins: new Map(), generation: rec?.generation ?? 0, voidTime: 0 };
    const out: Array<readonly [string, { type: number; data: Buffer }]> = [];
    for (const o of msg.ops) {
      const cur = next.bins.get(o.name);
      if (o.op === OpType.WRITE) {
        if (o.particleType === ParticleType.NULL) next.bins.delete(o.name);
        else next.bins.set(o.name, { type: o.particleType, data: o.data });
      } else if (o.op === OpType.ADD) {
        const base = cur ? readInteger(cur.data) : 0n;
        const data = Buffer.alloc(8);
        data.writeBigInt64BE(base + readInteger(o.data));
        next.bins.set(o.name, { type: ParticleType.INTEGER, data });
      } else if (o.op === OpType.APPEND || o.op === OpType.PREPEND) {
        const base = cur?.data ?? Buffer.alloc(0);
        const data = o.op === OpType.APPEND ? Buffer.concat([base, o.data]) : Buffer.concat([o.data, base]);
        next.bins.set(o.name, { type: o.particleType, data });
      } else if (o.op === OpType.READ) {
        const v = next.bins.get(o.name);
        if (v) out.push([o.name, v]);
        continue;
      }
      if (msg.info2 & Info2.RESPOND_ALL_OPS) out.push([o.name, { type: 0, data: Buffer.alloc(0) }]);
    }
    if (msg.ops.some((o) => o.op === OpType.DELETE)) {
      this.store.delete(digest);
      return reply(0);
    }
    next.generation++;
    const ttl = msg.recordTtl;
    const nowClepoch = Math.floor(Date.now() / 1000) - CITRUSLEAF_EPOCH_SEC;
    if (ttl === 0xffffffff || ttl === 0) next.voidTime = 0;
    else if (ttl !== 0xfffffffe) next.voidTime = nowClepoch + ttl;
    this.store.set(digest, next);
    return reply(0, next, out);
  }
}

/** A reply message. */
export function reply(
  resultCode: number,
  rec?: { generation: number; voidTime: number },
  bins: ReadonlyArray<readonly [string, { type: number; data: Buffer }]> = [],
): AsMessage {
  return {
    ...emptyMessage(),
    resultCode,
    generation: resultCode === 0 ? rec?.generation ?? 0 : 0,
    recordTtl: resultCode === 0 ? rec?.voidTime ?? 0 : 0,
    ops: bins.map(([name, v]) => ({ op: OpType.READ, particleType: v.type, name, data: v.data })),
  };
}

/** A raw frame of any type (for protocol-violation tests). */
export function rawFrame(type: number, body: Buffer): Buffer {
  return encodeFrame(type, body);
}
