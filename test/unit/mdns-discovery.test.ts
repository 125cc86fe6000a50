/**
 * Goal: the multicast discovery module builds the records it promises, parses only what it should
 * (its cluster, complete instances, no goodbyes), never throws on network input, and its shell
 * finds peers, ignores itself and other clusters, and stays bounded.
 * Method: the pure helpers are tested directly, through a dns-packet encode/decode round trip,
 * and with fast-check on arbitrary values and random bytes. The shell runs several instances in
 * this process on loopback (interface 127.0.0.1, a random UDP port instead of 5353 so that it
 * cannot meet anything else on the machine); a probe checks first that loopback multicast works
 * here and skips the shell tests with the reason if it does not. Multi-host behaviour is
 * test/netns/mdns-discovery.test.ts.
 */
import dgram from "node:dgram";
import crypto from "node:crypto";
import dnsPacket from "dns-packet";
import fc from "fast-check";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  buildAnnouncement, buildQuery, hostName, instanceName, isServiceQuery, knowsInstance, MDNS_GROUP,
  MDNS_KNOWN_ANSWERS_MAX, MDNS_RECORDS_MAX, MDNS_SERVICE,
  MdnsDiscovery, type MdnsDiscoveryOptions, type MdnsPeer, parseResponse,
} from "../../server/cluster/mdns-discovery.js";

const AD = { clusterName: "unit", nodeId: "1A2B", host: "10.1.2.3", port: 3002 };

/** What arrives after the wire: encoded by dns-packet and decoded again. */
function wire(packet: object): unknown {
  return dnsPacket.decode(dnsPacket.encode({ type: "response", ...packet } as dnsPacket.Packet));
}

describe("buildAnnouncement / parseResponse", () => {
  it("announces PTR, SRV, TXT and A for the node", () => {
    const { answers } = buildAnnouncement(AD);
    expect(answers.map((a) => [a.type, a.name])).toEqual([
      ["PTR", MDNS_SERVICE],
      ["SRV", "1A2B._shoal._tcp.local"],
      ["TXT", "1A2B._shoal._tcp.local"],
      ["A", "1A2B.shoal.local"],
    ]);
    expect(answers.find((a) => a.type === "SRV")?.data).toMatchObject({ port: 3002, target: hostName("1A2B") });
    expect(answers.find((a) => a.type === "TXT")?.data).toEqual(["cluster=unit", "node=1A2B"]);
    expect(answers.map((a) => (a as { ttl?: number }).ttl)).toEqual([120, 120, 120, 120]);
  });

  it("round-trips through the wire format", () => {
    expect(parseResponse(wire(buildAnnouncement(AD)), "unit")).toEqual([{ nodeId: "1A2B", host: "10.1.2.3", port: 3002 }]);
  });

  it("finds SRV, TXT and A records among the additionals too, names compared case-insensitively", () => {
    const [ptr, ...rest] = buildAnnouncement(AD).answers;
    const upper = rest.map((r) => ({ ...r, name: r.name.toUpperCase() + "." }));
    expect(parseResponse(wire({ answers: [ptr], additionals: upper }), "unit")).toHaveLength(1);
  });

  it("ignores another cluster, goodbyes, and incomplete or inconsistent instances", () => {
    const full = buildAnnouncement(AD).answers;
    const without = (type: string) => ({ answers: full.filter((r) => r.type !== type) });
    expect(parseResponse(wire(buildAnnouncement(AD)), "other")).toEqual([]);
    expect(parseResponse(wire(buildAnnouncement(AD)), "uni")).toEqual([]);
    expect(parseResponse(wire(buildAnnouncement({ ...AD, ttlSeconds: 0 })), "unit")).toEqual([]);
    for (const type of ["PTR", "SRV", "TXT", "A"]) expect(parseResponse(wire(without(type)), "unit")).toEqual([]);
    // A TXT that claims to be another node than its instance name.
    const forged = full.map((r) => (r.type === "TXT" ? { ...r, data: ["cluster=unit", "node=FFFF"] } : r));
    expect(parseResponse(wire({ answers: forged }), "unit")).toEqual([]);
    // A wildcard address, a port out of range.
    const wildcard = full.map((r) => (r.type === "A" ? { ...r, data: "0.0.0.0" } : r));
    expect(parseResponse(wire({ answers: wildcard }), "unit")).toEqual([]);
    const port0 = full.map((r) => (r.type === "SRV" ? { ...r, data: { port: 0, target: hostName("1A2B") } } : r));
    expect(parseResponse(wire({ answers: port0 }), "unit")).toEqual([]);
  });

  it("reports several nodes of one packet once each, and ignores a packet with too many records", () => {
    const two = [...buildAnnouncement(AD).answers, ...buildAnnouncement({ ...AD, nodeId: "2B", port: 9 }).answers];
    const parsed = parseResponse(wire({ answers: [...two, ...two] }), "unit");
    expect(parsed.map((p) => p.nodeId)).toEqual(["1A2B", "2B"]);
    const padding = Array.from({ length: MDNS_RECORDS_MAX }, (_, i) => ({ name: `x${i}.local`, type: "A", ttl: 1, data: "10.0.0.1" }));
    expect(parseResponse(wire({ answers: [...two, ...padding] }), "unit")).toEqual([]);
  });

  it("never throws on arbitrary values", () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        expect(Array.isArray(parseResponse(value, "unit"))).toBe(true);
        expect(typeof isServiceQuery(value, "1A2B")).toBe("boolean");
      }),
      { numRuns: 2_000 },
    );
    const shaped = fc.record({
      answers: fc.array(fc.record({ name: fc.oneof(fc.constant(MDNS_SERVICE), fc.string()), type: fc.constantFrom("PTR", "SRV", "TXT", "A", 1), ttl: fc.anything(), data: fc.anything() })),
    });
    fc.assert(fc.property(shaped, (value) => { parseResponse(value, "unit"); }), { numRuns: 2_000 });
  });

  it("never throws on random bytes that happen to decode", () => {
    const base = Buffer.from(dnsPacket.encode({ type: "response", ...buildAnnouncement(AD) } as dnsPacket.Packet));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.nat(255)), { maxLength: 8 }), (flips) => {
        const bytes = Buffer.from(base);
        for (const [at, value] of flips) bytes[at] = value;
        let decoded: unknown;
        try {
          decoded = dnsPacket.decode(bytes);
        } catch {
          return; // multicast-dns drops undecodable packets before we see them
        }
        parseResponse(decoded, "unit");
      }),
      { numRuns: 2_000 },
    );
  });

  it("recognizes queries for the service, the instance and the host name", () => {
    expect(isServiceQuery(buildQuery(), "1A2B")).toBe(true);
    expect(isServiceQuery({ questions: [{ name: "_SHOAL._tcp.local", type: "ANY" }] }, "1A2B")).toBe(true);
    expect(isServiceQuery({ questions: [{ name: MDNS_SERVICE, type: "A" }] }, "1A2B")).toBe(false);
    expect(isServiceQuery({ questions: [{ name: instanceName("1A2B"), type: "SRV" }] }, "1A2B")).toBe(true);
    expect(isServiceQuery({ questions: [{ name: hostName("1A2B"), type: "A" }] }, "1A2B")).toBe(true);
    expect(isServiceQuery({ questions: [{ name: "_http._tcp.local", type: "PTR" }] }, "1A2B")).toBe(false);
  });

  it("lists known answers in a query, and recognizes a query that already knows us", () => {
    const q = buildQuery(["1A2B", "2B", "bad.label"]);
    expect(q.answers.map((a) => (a as { data: string }).data)).toEqual([instanceName("1A2B"), instanceName("2B")]);
    expect(buildQuery(Array.from({ length: 100 }, (_, i) => `N${i}`)).answers).toHaveLength(MDNS_KNOWN_ANSWERS_MAX);
    const received = dnsPacket.decode(dnsPacket.encode({ type: "query", ...q } as dnsPacket.Packet));
    expect(knowsInstance(received, "1A2B")).toBe(true);
    expect(knowsInstance(received, "1a2b")).toBe(true);
    expect(knowsInstance(received, "3C")).toBe(false);
    expect(knowsInstance(buildQuery(), "1A2B")).toBe(false);
    // RFC 6762 §7.1: a known answer with less than half its TTL left does not suppress.
    const stale = { ...q, answers: q.answers.map((a) => ({ ...a, ttl: 59 })) };
    expect(knowsInstance(stale, "1A2B")).toBe(false);
  });

  it("refuses to advertise what cannot be a peer address or a DNS label", () => {
    expect(() => buildAnnouncement({ ...AD, host: "0.0.0.0" })).toThrow(/host/);
    expect(() => buildAnnouncement({ ...AD, host: "node1" })).toThrow(/host/);
    expect(() => buildAnnouncement({ ...AD, nodeId: "a.b" })).toThrow(/nodeId/);
    expect(() => buildAnnouncement({ ...AD, nodeId: "x".repeat(64) })).toThrow(/nodeId/);
    expect(() => buildAnnouncement({ ...AD, port: 0 })).toThrow(/port/);
  });
});

/** Does multicast sent on 127.0.0.1 come back to a socket that joined the group there? */
async function loopbackMulticastWorks(port: number): Promise<string | undefined> {
  const socket = dgram.createSocket({ type: "udp4", reuseAddr: true });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, "0.0.0.0", () => resolve());
    });
    socket.addMembership(MDNS_GROUP, "127.0.0.1");
    socket.setMulticastInterface("127.0.0.1");
    socket.setMulticastLoopback(true);
    const token = crypto.randomBytes(8);
    const heard = new Promise<boolean>((resolve) => {
      socket.on("message", (m) => { if (m.equals(token)) resolve(true); });
      setTimeout(() => resolve(false), 1_000).unref();
    });
    socket.send(token, port, MDNS_GROUP);
    return (await heard) ? undefined : "multicast on 127.0.0.1 is not looped back here";
  } catch (err) {
    return `loopback multicast unavailable: ${(err as Error).message}`;
  } finally {
    socket.close();
  }
}

describe("MdnsDiscovery on loopback", () => {
  const port = 20_000 + crypto.randomInt(30_000);
  const cluster = `unit-${crypto.randomBytes(4).toString("hex")}`;
  const open: MdnsDiscovery[] = [];
  const warnings: string[] = [];
  const log = { debug: () => {}, warn: (_o: object, msg: string) => { warnings.push(msg); } };
  let skip: string | undefined;

  beforeAll(async () => {
    skip = await loopbackMulticastWorks(port);
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
  });

  function node(nodeId: string, extra: Partial<MdnsDiscoveryOptions> = {}): { d: MdnsDiscovery; seen: MdnsPeer[] } {
    const seen: MdnsPeer[] = [];
    const d = new MdnsDiscovery(
      { clusterName: cluster, nodeId, host: "127.0.0.1", heartbeatPort: 4000, intervalMs: 100, interface: "127.0.0.1", mdnsPort: port, log, ...extra },
      (peer) => seen.push(peer),
    );
    open.push(d);
    return { d, seen };
  }

  async function until(pred: () => boolean, timeoutMs: number): Promise<void> {
    const t0 = Date.now();
    while (!pred()) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("finds its peers, never itself, and ignores another cluster", async (ctx) => {
    if (skip !== undefined) ctx.skip(skip);
    const a = node("A", { heartbeatPort: 4001 });
    const b = node("B", { heartbeatPort: 4002 });
    const other = node("C", { clusterName: `${cluster}-other` });
    await Promise.all([a.d.start(), b.d.start(), other.d.start()]);
    await until(() => a.seen.some((p) => p.nodeId === "B") && b.seen.some((p) => p.nodeId === "A"), 3_000);
    await new Promise((r) => setTimeout(r, 250)); // a few more periods
    expect(new Set(a.seen.map((p) => p.nodeId))).toEqual(new Set(["B"]));
    expect(new Set(b.seen.map((p) => p.nodeId))).toEqual(new Set(["A"]));
    expect(a.seen[0]).toEqual({ nodeId: "B", host: "127.0.0.1", port: 4002 });
    expect(other.seen).toEqual([]);
    // De-duplicated per period: a few reports over ~3 periods, not one per packet.
    expect(a.seen.length).toBeLessThanOrEqual(a.d.stats().announcementsSent + 1);
    expect(a.d.stats().sendErrors).toBe(0);
  });

  it("does not answer its own looped-back query, nor queries of peers that know it", async (ctx) => {
    if (skip !== undefined) ctx.skip(skip);
    const lone = node("LONE", { clusterName: `${cluster}-lone` });
    await lone.d.start();
    await new Promise((r) => setTimeout(r, 350));
    expect(lone.d.stats()).toMatchObject({ queriesSent: expect.any(Number), answersSent: 0 });
    expect(lone.d.stats().queriesSent).toBeGreaterThanOrEqual(3);
    // Its queries would be answered by the pair below (the query names the service, not the
    // cluster): stop it first.
    await lone.d.close();
    // Two settled peers: after the first periods, each query lists the other, so nobody answers.
    const a = node("A", { clusterName: `${cluster}-pair` });
    const b = node("B", { clusterName: `${cluster}-pair` });
    await Promise.all([a.d.start(), b.d.start()]);
    await until(() => a.seen.length > 0 && b.seen.length > 0, 3_000);
    await new Promise((r) => setTimeout(r, 250));
    const answered = a.d.stats().answersSent + b.d.stats().answersSent;
    await new Promise((r) => setTimeout(r, 500)); // five more periods
    // Without suppression each of the ten queries would be answered; allow a jitter-late one.
    expect(a.d.stats().answersSent + b.d.stats().answersSent).toBeLessThanOrEqual(answered + 1);
  });

  it("start and close are idempotent, and close before start is fine", async (ctx) => {
    if (skip !== undefined) ctx.skip(skip);
    const a = node("A");
    const p1 = a.d.start();
    expect(a.d.start()).toBe(p1);
    await p1;
    expect(a.d.state).toBe("running");
    const c1 = a.d.close();
    expect(a.d.close()).toBe(c1);
    await c1;
    expect(a.d.state).toBe("closed");
    await a.d.start(); // no-op once closed
    expect(a.d.state).toBe("closed");
    const never = node("N");
    await never.d.close();
    expect(never.d.state).toBe("closed");
    // close() while the socket is still binding: start() settles, nothing is sent.
    const early = node("E");
    const starting = early.d.start();
    await early.d.close();
    await starting;
    expect(early.d.state).toBe("closed");
    expect(early.d.stats().announcementsSent).toBe(0);
  });

  it("caps the peers reported per period, survives a throwing callback and garbage packets", async (ctx) => {
    if (skip !== undefined) ctx.skip(skip);
    const capped = node("CAP", { peersMax: 1, intervalMs: 200 });
    const throwing = new MdnsDiscovery(
      { clusterName: cluster, nodeId: "T", host: "127.0.0.1", heartbeatPort: 4000, intervalMs: 100, interface: "127.0.0.1", mdnsPort: port, log },
      () => { throw new Error("callback bug"); },
    );
    open.push(throwing);
    const others = ["P1", "P2", "P3"].map((id) => node(id));
    await Promise.all([capped.d.start(), throwing.start(), ...others.map((o) => o.d.start())]);

    // To the group, so that every instance gets them (a unicast datagram reaches only one of
    // the sockets sharing the port).
    const raw = dgram.createSocket("udp4");
    await new Promise<void>((r) => raw.bind(0, "127.0.0.1", () => r()));
    raw.setMulticastInterface("127.0.0.1");
    const garbage = [Buffer.from("not dns"), crypto.randomBytes(12), Buffer.alloc(9_500, 0)];
    for (const g of garbage) await new Promise<void>((r) => raw.send(g, port, MDNS_GROUP, () => r()));
    raw.close();

    await until(() => capped.d.stats().peersDropped > 0 && throwing.stats().peersReported > 0, 3_000);
    await new Promise((r) => setTimeout(r, 300));
    // At most one peer per 200 ms period (plus the one in flight at a period boundary).
    expect(capped.seen.length).toBeLessThanOrEqual(capped.d.stats().announcementsSent + 1);
    expect(warnings).toContain("mdns onPeer callback threw");
    expect(capped.d.stats().packetsIgnored).toBeGreaterThan(0);
    // Still working after all that.
    const before = others[0]!.seen.length;
    await until(() => others[0]!.seen.length > before, 1_000);
  });
});
