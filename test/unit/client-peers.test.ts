/**
 * Goal: `peers-clear-std` values and user host lists parse the way the C client reads them,
 * including an empty default port (`1,,[...]` → 3000), hosts without ports, IPv6 in brackets,
 * and the removal rules of the tender.
 * Method: fixed vectors from the protocol reference (§8.3, §8.4), malformed inputs, a fuzz run,
 * and the pure `nodesToRemove` / `checkValidation` decisions.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ProtocolError } from "../../client/protocol/index.js";
import {
  FAILURES_MAX, InvalidNodeError, ParameterError, TendView, checkValidation, nodesToRemove, parseHosts, parsePeers,
} from "../../client/internal.js";

describe("parsePeers", () => {
  it("no peers", () => {
    expect(parsePeers("1,3100,[]")).toEqual({ generation: 1, peers: [] });
  });

  it("empty default port means 3000; explicit ports win", () => {
    const r = parsePeers("7,,[[BB9020011AC4202,,[10.0.0.2]],[B2,,[127.0.0.1:3103,10.0.0.3:4000]]]");
    expect(r.generation).toBe(7);
    expect(r.peers).toEqual([
      { nodeName: "BB9020011AC4202", tlsName: "", hosts: [{ host: "10.0.0.2", port: 3000 }] },
      { nodeName: "B2", tlsName: "", hosts: [{ host: "127.0.0.1", port: 3103 }, { host: "10.0.0.3", port: 4000 }] },
    ]);
  });

  it("a default port applies to hosts without one; tls names are kept", () => {
    const r = parsePeers("2,3100,[[A1,tls-a,[db1.example]]]");
    expect(r.peers[0]).toEqual({ nodeName: "A1", tlsName: "tls-a", hosts: [{ host: "db1.example", port: 3100 }] });
  });

  it("IPv6 hosts in brackets, with and without a port", () => {
    const r = parsePeers("3,,[[N1,,[[::1]:3000,[fe80::1%eth0],[2001:db8::2]:3005]]]");
    expect(r.peers[0]!.hosts).toEqual([
      { host: "::1", port: 3000 },
      { host: "fe80::1%eth0", port: 3000 },
      { host: "2001:db8::2", port: 3005 },
    ]);
  });

  it.each([
    ["empty", ""],
    ["no list", "1,3000"],
    ["bad generation", "x,3000,[]"],
    ["bad port", "1,99999,[]"],
    ["unterminated", "1,,[[A,,[h:1]]"],
    ["empty node id", "1,,[[,,[h:1]]]"],
    ["node id too long", `1,,[[${"A".repeat(20)},,[h:1]]]`],
    ["trailing junk", "1,,[]x"],
    ["host port not numeric", "1,,[[A,,[h:x]]]"],
    ["bracketed non-IPv6", "1,,[[A,,[[host]:1]]]"],
  ])("rejects %s", (_why, v) => {
    expect(() => parsePeers(v)).toThrow(ProtocolError);
  });

  it("property: random text throws only ProtocolError", () => {
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => {
      try {
        parsePeers(s);
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
      }
    }), { numRuns: 500 });
  });
});

describe("parseHosts", () => {
  it("string lists with default ports and IPv6", () => {
    expect(parseHosts("a:3001, b ,[::1]:3002,[::2],fe80::3")).toEqual([
      { host: "a", port: 3001 }, { host: "b", port: 3000 }, { host: "::1", port: 3002 },
      { host: "::2", port: 3000 }, { host: "fe80::3", port: 3000 },
    ]);
  });

  it("arrays", () => {
    expect(parseHosts([{ host: "127.0.0.1", port: 4000 }, { host: "x" }])).toEqual([
      { host: "127.0.0.1", port: 4000 }, { host: "x", port: 3000 },
    ]);
  });

  it.each([[""], ["a:0"], ["a:70000"], [":3000"], ["a:b"]])("rejects %j", (v) => {
    expect(() => parseHosts(v)).toThrow(ParameterError);
  });
  it("rejects bad arrays", () => {
    expect(() => parseHosts([])).toThrow(ParameterError);
    expect(() => parseHosts([{ host: "", port: 1 }])).toThrow(ParameterError);
    expect(() => parseHosts([{ host: "a", port: 1.5 }])).toThrow(ParameterError);
  });
});

describe("tender decisions", () => {
  const v = (o: Partial<TendView> & { name: string }): TendView => ({
    responsive: true, nameChanged: false, failures: 0, friends: 0, ownsPartitions: true, ...o,
  });

  it("a single node is kept until FAILURES_MAX failures", () => {
    expect(nodesToRemove([v({ name: "A", responsive: false, failures: FAILURES_MAX - 1 })])).toEqual([]);
    expect(nodesToRemove([v({ name: "A", responsive: false, failures: FAILURES_MAX })]).map(([n]) => n)).toEqual(["A"]);
  });

  it("multi-node: an unreachable node nobody lists goes at once; a listed one waits", () => {
    const out = nodesToRemove([
      v({ name: "A", friends: 1 }),
      v({ name: "B", responsive: false, failures: 1, friends: 0 }),
      v({ name: "C", responsive: false, failures: 1, friends: 1 }),
    ]);
    expect(out.map(([n]) => n)).toEqual(["B"]);
  });

  it("multi-node: a live node nobody lists is dropped only if it owns nothing; renamed always", () => {
    const out = nodesToRemove([
      v({ name: "A", friends: 0, ownsPartitions: false }),
      v({ name: "B", friends: 0, ownsPartitions: true }),
      v({ name: "C", friends: 2, nameChanged: true }),
    ]);
    expect(out.map(([n]) => n)).toEqual(["A", "C"]);
  });

  it("validation rejects not-ready, old or malformed nodes", () => {
    const ok = new Map([["node", "BB9"], ["partition-generation", "1"], ["build", "8.0.0.0"]]);
    expect(checkValidation(ok, "h:1")).toEqual({ name: "BB9", partitionGeneration: 1 });
    const bad = (k: string, val: string) => () => checkValidation(new Map([...ok, [k, val]]), "h:1");
    expect(bad("partition-generation", "-1")).toThrow(/not ready/);
    expect(bad("build", "4.9.0.2")).toThrow(/older/);
    expect(bad("build", "8.0")).toThrow(InvalidNodeError);
    expect(bad("node", "")).toThrow(InvalidNodeError);
    expect(bad("node", "N".repeat(20))).toThrow(InvalidNodeError);
    expect(bad("build", "ERROR:4:unrecognized command")).toThrow(InvalidNodeError);
    expect(checkValidation(new Map([...ok, ["build", "4.9.0.3"]]), "h").name).toBe("BB9");
    expect(checkValidation(new Map([...ok, ["build", "10.0.0"]]), "h").name).toBe("BB9");
  });
});
