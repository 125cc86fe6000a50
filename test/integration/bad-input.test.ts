/**
 * Goal: bad input gets a clear error or a closed connection, and the node stays up and answers
 * the next good request: random bytes, oversized frames, bad headers, unknown ops, bin names over
 * 15 bytes, records over the size limit, wrong value types for add, truncated messages, slow
 * and half-open clients, many connections.
 *
 * Method: one real node process; raw sockets write hand-made frames built with the shared codec;
 * after every bad input a fresh connection does a good put/get to prove the node still serves.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  emptyMessage, encodeFrame, encodeInfoRequest, encodeMessage, encodeParticle, FieldType, FrameDecoder,
  Info1, Info2, OpType, ParticleType, ProtoType, ResultCode, computeDigest, decodeMessage, decodeInfoResponse,
  type AsMessage, type Op,
} from "../../client/protocol/index.js";
import { cleanup, NodeProcess, rawConnect, startNode } from "./harness.js";

let node: NodeProcess;

beforeAll(async () => {
  node = await startNode({
    args: ["--log-level", "error"],
    config: { namespaces: { test: { storage: "memory", recordBytesMax: 64 * 1024 } }, frameBytesMax: 256 * 1024, idleTimeoutMs: 1500 },
  });
});

afterAll(async () => {
  await node?.stop();
  cleanup();
});

function keyFields(k: string) {
  return [
    { type: FieldType.NAMESPACE, data: Buffer.from("test") },
    { type: FieldType.SET, data: Buffer.from("bad") },
    { type: FieldType.DIGEST, data: computeDigest("bad", k) },
  ];
}

function writeMsg(k: string, ops: Op[], extra: Partial<AsMessage> = {}): Buffer {
  return encodeMessage({ ...emptyMessage(), info2: Info2.WRITE, fields: keyFields(k), ops, ...extra });
}

function binOp(name: string, value: Parameters<typeof encodeParticle>[0], op: number = OpType.WRITE): Op {
  const p = encodeParticle(value);
  return { op, particleType: p.type, name, data: p.data };
}

/** Sends frames on one connection; resolves with the replies (or "closed" if the node hung up). */
async function exchange(bytes: Buffer, expected = 1, socket?: net.Socket): Promise<{ replies: Buffer[]; closed: boolean }> {
  const s = socket ?? (await rawConnect(node.servicePort));
  const decoder = new FrameDecoder();
  const replies: Buffer[] = [];
  return new Promise((resolve) => {
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.removeAllListeners("data");
      if (!socket) s.destroy();
      resolve({ replies, closed });
    };
    const timer = setTimeout(() => done(false), 3000);
    s.on("data", (chunk) => {
      for (const f of decoder.push(chunk)) replies.push(f.body);
      if (replies.length >= expected) done(false);
    });
    s.once("close", () => done(true));
    s.once("error", () => undefined);
    s.write(bytes);
  });
}

async function resultOf(frame: Buffer): Promise<number> {
  const { replies } = await exchange(frame);
  expect(replies.length).toBe(1);
  return decodeMessage(replies[0]!).resultCode;
}

/** A good put and get on a fresh connection: the node still serves. */
async function stillServes(): Promise<void> {
  const k = `alive-${Math.random()}`;
  expect(await resultOf(writeMsg(k, [binOp("a", 7)]))).toBe(ResultCode.OK);
  const { replies } = await exchange(encodeMessage({ ...emptyMessage(), info1: Info1.READ | Info1.GET_ALL, fields: keyFields(k) }));
  const msg = decodeMessage(replies[0]!);
  expect(msg.resultCode).toBe(ResultCode.OK);
  expect(msg.ops[0]!.name).toBe("a");
}

describe("bad input never takes the node down", () => {
  it("random bytes close the connection", async () => {
    for (let i = 0; i < 20; i++) {
      const junk = Buffer.alloc(64 + i * 13);
      for (let j = 0; j < junk.length; j++) junk[j] = (j * 7919 + i * 104729) & 0xff;
      junk[0] = i % 2 === 0 ? 9 : 2; // bad version, or version 2 with junk type/size
      const { closed } = await exchange(junk);
      expect(closed).toBe(true);
    }
    await stillServes();
  });

  it("an oversized frame header closes the connection without buffering it", async () => {
    const header = Buffer.alloc(8);
    header[0] = 2;
    header[1] = ProtoType.MSG;
    header.writeUIntBE(100 * 1024 * 1024, 2, 6);
    const { closed } = await exchange(header);
    expect(closed).toBe(true);
    await stillServes();
  });

  it("a malformed message gets PARAMETER and the connection stays usable", async () => {
    const s = await rawConnect(node.servicePort);
    const bad = encodeFrame(ProtoType.MSG, Buffer.from([22, 0, 0, 0, 0, 0, 1, 2, 3])); // truncated AS_MSG
    const lying = writeMsg("x", [binOp("a", 1)]);
    lying.writeUInt32BE(0xffff, 8 + 22 + 0); // first field claims 65535 bytes
    const good = writeMsg("after-bad", [binOp("a", 1)]);
    const { replies, closed } = await exchange(Buffer.concat([bad, lying, good]), 3, s);
    s.destroy();
    expect(closed).toBe(false);
    expect(replies.map((r) => decodeMessage(r).resultCode)).toEqual([ResultCode.PARAMETER, ResultCode.PARAMETER, ResultCode.OK]);
  });

  it("unknown op is PARAMETER; CDT op is UNSUPPORTED_FEATURE", async () => {
    expect(await resultOf(writeMsg("op", [{ op: 99, particleType: ParticleType.INTEGER, name: "a", data: Buffer.alloc(8) }]))).toBe(ResultCode.PARAMETER);
    expect(await resultOf(writeMsg("op", [{ op: OpType.CDT_MODIFY, particleType: ParticleType.BLOB, name: "a", data: Buffer.from([0x91, 1]) }]))).toBe(ResultCode.UNSUPPORTED_FEATURE);
    await stillServes();
  });

  it("a bin name over 15 bytes is BIN_NAME", async () => {
    expect(await resultOf(writeMsg("long", [binOp("sixteen-bytes-xx", 1)]))).toBe(ResultCode.BIN_NAME);
    await stillServes();
  });

  it("a record over the namespace limit is RECORD_TOO_BIG", async () => {
    expect(await resultOf(writeMsg("big", [binOp("b", Buffer.alloc(65 * 1024))]))).toBe(ResultCode.RECORD_TOO_BIG);
    await stillServes();
  });

  it("add of a string is INCOMPATIBLE_TYPE; add to a string bin too", async () => {
    expect(await resultOf(writeMsg("add", [binOp("s", "text")]))).toBe(ResultCode.OK);
    expect(await resultOf(writeMsg("add", [binOp("n", "five", OpType.ADD)]))).toBe(ResultCode.INCOMPATIBLE_TYPE);
    expect(await resultOf(writeMsg("add", [binOp("s", 1, OpType.ADD)]))).toBe(ResultCode.INCOMPATIBLE_TYPE);
    await stillServes();
  });

  it("wrong particle sizes, unknown namespace, missing digest", async () => {
    expect(await resultOf(writeMsg("size", [{ op: OpType.WRITE, particleType: ParticleType.INTEGER, name: "a", data: Buffer.alloc(3) }]))).toBe(ResultCode.PARAMETER);
    const otherNs = encodeMessage({ ...emptyMessage(), info2: Info2.WRITE, fields: [{ type: FieldType.NAMESPACE, data: Buffer.from("nope") }, keyFields("k")[2]!], ops: [binOp("a", 1)] });
    expect(await resultOf(otherNs)).toBe(ResultCode.NAMESPACE_NOT_FOUND);
    const noDigest = encodeMessage({ ...emptyMessage(), info1: Info1.READ, fields: [{ type: FieldType.NAMESPACE, data: Buffer.from("test") }] });
    expect(await resultOf(noDigest)).not.toBe(ResultCode.OK);
    await stillServes();
  });

  it("unknown info commands answer ERROR:4 and the connection stays usable", async () => {
    const { replies } = await exchange(encodeInfoRequest(["no-such-command", "node"]));
    const info = decodeInfoResponse(replies[0]!);
    expect(info.get("no-such-command")).toBe("ERROR:4:unrecognized command");
    expect(info.get("node")).toBe(node.nodeId);
  });

  it("a half-sent frame does not block other clients, and idle connections are closed", async () => {
    const slow = await rawConnect(node.servicePort);
    const closed = new Promise<void>((resolve) => slow.once("close", () => resolve()));
    slow.write(writeMsg("slow", [binOp("a", 1)]).subarray(0, 20));
    await stillServes();
    await closed; // idleTimeoutMs 1500 in this node's config
  });

  it("many connections at once, then all closed", async () => {
    const sockets = await Promise.all(Array.from({ length: 200 }, () => rawConnect(node.servicePort)));
    await stillServes();
    for (const s of sockets) s.destroy();
    await stillServes();
  });

  it("pipelined requests are answered in order", async () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      frames.push(writeMsg("pipe", [binOp("n", 1, OpType.ADD)], { info1: Info1.READ, info2: Info2.WRITE, ops: [binOp("n", 1, OpType.ADD), { op: OpType.READ, particleType: 0, name: "n", data: Buffer.alloc(0) }] }));
    }
    const { replies } = await exchange(Buffer.concat(frames), 300);
    const values = replies.map((r) => decodeMessage(r).ops[0]!.data.readBigInt64BE(0));
    expect(values).toEqual(values.slice().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(values[299]! - values[0]!).toBe(299n);
  });
});
