/**
 * Goal: the info codec (client/protocol/info.ts, §8 of the protocol reference) produces and parses
 * exactly the text the official client exchanges, including the edge cases a server meets: a
 * trailing command without '\n' (not run, as SRV does), an empty body (summary → no commands),
 * values holding tabs and colons, and the SRV error format.
 *
 * Method: the info bodies captured from npm aerospike 6.7.1 (§13) are encoded and decoded both
 * ways and compared byte for byte (including the captured request header 02 01 … 20); explicit
 * edge cases; fast-check round trips of arbitrary commands and replies over the byte-transparent
 * latin1 range the codec uses.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeInfoRequest,
  decodeInfoResponse,
  encodeInfoRequest,
  encodeInfoResponse,
  FrameDecoder,
  infoError,
  PROTO_HEADER_BYTES,
  ProtocolError,
  ProtoType,
} from "../../client/protocol/index.js";
import { hex, INFO_EXCHANGE } from "./fixtures/captured-frames.js";

const body = (frame: Buffer): string => frame.subarray(PROTO_HEADER_BYTES).toString("latin1");
const commandsOf = (request: string): string[] => request.split("\n").slice(0, -1);

/** [name, value] pairs of a reply text. */
function entriesOf(reply: string): [string, string][] {
  return reply
    .split("\n")
    .slice(0, -1)
    .map((line) => {
      const tab = line.indexOf("\t");
      return [line.slice(0, tab), line.slice(tab + 1)];
    });
}

describe("captured info exchange (§13)", () => {
  it("the first request frame has the captured header 02 01 00 00 00 00 00 20", () => {
    const frame = encodeInfoRequest(["node", "partition-generation", "build"]);
    expect(frame.subarray(0, 8)).toEqual(hex("02 01 00 00 00 00 00 20"));
    expect(frame.length).toBe(8 + 32);
  });

  for (const { request, reply } of INFO_EXCHANGE) {
    it(`${JSON.stringify(request)}: request and reply encode and decode exactly`, () => {
      const commands = commandsOf(request);
      const reqFrame = encodeInfoRequest(commands);
      expect(reqFrame[1]).toBe(ProtoType.INFO);
      expect(body(reqFrame)).toBe(request);
      expect(decodeInfoRequest(Buffer.from(request, "latin1"))).toEqual(commands);

      const entries = entriesOf(reply);
      const repFrame = encodeInfoResponse(entries);
      expect(repFrame[1]).toBe(ProtoType.INFO);
      expect(repFrame.readUIntBE(2, 6)).toBe(reply.length);
      expect(body(repFrame)).toBe(reply);
      expect(decodeInfoResponse(Buffer.from(reply, "latin1"))).toEqual(new Map(entries));

      // Through the frame decoder, as a connection sees it.
      const frames = new FrameDecoder().push(Buffer.concat([reqFrame, repFrame]));
      expect(frames.map((f) => f.body.toString("latin1"))).toEqual([request, reply]);
    });
  }

  it("the replicas value of a single-node cluster is 684 base64 characters of 0xFF", () => {
    const reply = INFO_EXCHANGE[2]!.reply;
    const value = decodeInfoResponse(Buffer.from(reply)).get("replicas")!;
    const [ns, rest] = value.split(":") as [string, string];
    expect(ns).toBe("test");
    const [regime, count, bitmap] = rest.split(",");
    expect([regime, count]).toEqual(["0", "1"]);
    expect(bitmap).toHaveLength(684);
    expect(bitmap).toBe("/".repeat(682) + "8=");
  });

  it("peers-clear-std with no peers", () => {
    expect(decodeInfoResponse(Buffer.from(INFO_EXCHANGE[1]!.reply)).get("peers-clear-std")).toBe("1,3100,[]");
  });
});

describe("requests: edge cases", () => {
  it("a trailing fragment without '\\n' is ignored (SRV runs only terminated commands)", () => {
    expect(decodeInfoRequest(Buffer.from("node\nbuild"))).toEqual(["node"]);
    expect(decodeInfoRequest(Buffer.from("node"))).toEqual([]);
    expect(decodeInfoRequest(Buffer.from("node\npartition-generation\nbui"))).toEqual(["node", "partition-generation"]);
  });

  it("an empty body (the deprecated summary request) gives []", () => {
    expect(decodeInfoRequest(Buffer.alloc(0))).toEqual([]);
    expect(encodeInfoRequest([]).length).toBe(8);
    expect(decodeInfoRequest(encodeInfoRequest([]).subarray(8))).toEqual([]);
  });

  it("empty lines are skipped", () => {
    expect(decodeInfoRequest(Buffer.from("\n\nnode\n\n"))).toEqual(["node"]);
  });

  it("commands keep their parameters (colons, equals, semicolons, slashes)", () => {
    const cmds = [
      "user-agent-set:value=MSxub2RlanMtNi43LjEsbm90LXNldA==",
      "sets/test/demo",
      "namespace/test",
      "sindex-list:ns=test;b64=true",
    ];
    const frame = encodeInfoRequest(cmds);
    expect(decodeInfoRequest(frame.subarray(8))).toEqual(cmds);
  });

  it("a command containing '\\n' or '\\t' is a ProtocolError", () => {
    expect(() => encodeInfoRequest(["node\nbuild"])).toThrow(ProtocolError);
    expect(() => encodeInfoRequest(["a\tb"])).toThrow(ProtocolError);
  });
});

describe("responses: edge cases", () => {
  it("values may contain tabs and colons; the name ends at the first tab", () => {
    const entries: [string, string][] = [
      ["namespace/test", "ns_cluster_size=1;objects=3;storage-engine=memory"],
      ["sets/test", "ns=test:set=demo:objects=1:tombstones=0;"],
      ["odd", "a\tb\tc"],
      ["service-clear-std", ""],
      ["peers-clear-std", "2,3000,[[BB9020011AC4202,,[10.0.0.2:3000]]]"],
    ];
    const frame = encodeInfoResponse(entries);
    expect(decodeInfoResponse(frame.subarray(8))).toEqual(new Map(entries));
  });

  it("a line without a tab maps to ''; empty lines are skipped; an empty body is an empty map", () => {
    expect(decodeInfoResponse(Buffer.from("node\n\nbuild\t8.0.0.0\n"))).toEqual(
      new Map([
        ["node", ""],
        ["build", "8.0.0.0"],
      ]),
    );
    expect(decodeInfoResponse(Buffer.alloc(0))).toEqual(new Map());
  });

  it("infoError uses SRV's format, leaving out code 1", () => {
    expect(infoError(4, "unrecognized command")).toBe("ERROR:4:unrecognized command");
    expect(infoError(1, "unknown")).toBe("ERROR::unknown");
    expect(infoError(20, "namespace not found")).toBe("ERROR:20:namespace not found");
    const frame = encodeInfoResponse([["bogus", infoError(4, "unrecognized command")]]);
    expect(body(frame)).toBe("bogus\tERROR:4:unrecognized command\n");
    expect(decodeInfoResponse(frame.subarray(8)).get("bogus")).toMatch(/^ERROR:4:/);
  });
});

// latin1 is byte-transparent: a server that decodes and re-encodes a command echoes its bytes.
const latin1 = (exclude: string) =>
  fc.string({ unit: "binary-ascii", maxLength: 40 }).filter((s) => ![...exclude].some((c) => s.includes(c)));

describe("round trips (fast-check)", () => {
  it("decodeInfoRequest(encodeInfoRequest(cmds)) == non-empty cmds", () => {
    fc.assert(
      fc.property(fc.array(latin1("\n\t"), { maxLength: 10 }), (cmds) => {
        const frame = encodeInfoRequest(cmds);
        expect(frame.readUIntBE(2, 6)).toBe(frame.length - 8);
        expect(decodeInfoRequest(frame.subarray(8))).toEqual(cmds.filter((c) => c.length > 0));
      }),
      { numRuns: 500 },
    );
  });

  it("decodeInfoResponse(encodeInfoResponse(entries)) == entries (unique names)", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(latin1("\n\t").filter((s) => s.length > 0), latin1("\n")), {
          maxLength: 10,
          selector: ([name]) => name,
        }),
        (entries) => {
          const frame = encodeInfoResponse(entries);
          expect(decodeInfoResponse(frame.subarray(8))).toEqual(new Map(entries));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("decoding arbitrary bytes never throws, and every byte value survives decode → encode", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (a) => {
        const b = Buffer.from(a);
        const cmds = decodeInfoRequest(b);
        const clean = cmds.filter((c) => !c.includes("\t"));
        expect(Buffer.from(clean.map((c) => c + "\n").join(""), "latin1")).toEqual(
          encodeInfoRequest(clean).subarray(8),
        );
        decodeInfoResponse(b);
      }),
      { numRuns: 500 },
    );
  });
});
