/**
 * Goal: the membership core's single transitions and its principal election, in isolation.
 * Method: drive `step` by hand (a tick, a message) and look at state and effects; check the
 * election against a naive centralized reference with fast-check (after etcd-io/raft
 * quorum/quick_test.go); check that `step` never mutates its input and that every message is
 * plain data. The multi-node behaviour under faults is test/sim's job.
 */
import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import {
  compareNodeIds, createMembership, electRole, isNodeId, membershipConfig, parseClusterMessage, sortNodeIdsDesc,
  step, view, type HeartbeatMessage, type MembershipEffect, type MembershipOptions, type MembershipState,
  type NodeId, type PeerReport, type ProposeMessage,
} from "../../server/core/membership.js";
import { randomHex64, seededRng, shuffle, type Rng } from "../../server/core/rng.js";
import { Timeout } from "../../server/core/timeout.js";

const NAME = "unit";

function node(nodeId: NodeId, extra: Partial<MembershipOptions> = {}): MembershipState {
  return createMembership({ nodeId, clusterName: NAME, ...extra });
}

function tick(state: MembershipState, rng: Rng = seededRng(1)) {
  return step(state, { kind: "tick" }, rng);
}

function heartbeatOf(effects: readonly MembershipEffect[]): HeartbeatMessage {
  const e = effects.find((x) => x.kind === "broadcast-heartbeat");
  if (e?.kind !== "broadcast-heartbeat") throw new Error("no heartbeat");
  return e.message;
}

function installs(effects: readonly MembershipEffect[]) {
  return effects.filter((e) => e.kind === "install");
}

/** A heartbeat as peer `from` would send it. */
function hb(from: NodeId, fields: Partial<HeartbeatMessage> = {}): HeartbeatMessage {
  return {
    kind: "heartbeat", v: 1, from, clusterName: NAME, incarnation: 0, seq: 1, clusterKey: null, generation: 0,
    succession: [], heard: [], principal: from, lead: [from], ...fields,
  };
}

/**
 * A perfect synchronous network: each round, every node ticks, then everything sent in the round
 * is delivered. Returns the states after `rounds` rounds.
 */
function runPerfect(states: Map<NodeId, MembershipState>, rounds: number, rng = seededRng(7)): Map<NodeId, MembershipState> {
  let inbox: Array<{ to: NodeId; message: unknown }> = [];
  for (let r = 0; r < rounds; r++) {
    const outbox: Array<{ to: NodeId; message: unknown }> = [];
    const carry = (from: NodeId, effects: readonly MembershipEffect[]) => {
      for (const e of effects) {
        if (e.kind === "broadcast-heartbeat") for (const to of states.keys()) if (to !== from) outbox.push({ to, message: e.message });
        if (e.kind === "send") outbox.push({ to: e.to, message: e.message });
      }
    };
    for (const { to, message } of inbox) {
      const out = step(states.get(to)!, { kind: "message", message }, rng);
      states.set(to, out.state);
      carry(to, out.effects);
    }
    for (const [id, s] of states) {
      const out = tick(s, rng);
      states.set(id, out.state);
      carry(id, out.effects);
    }
    inbox = outbox;
  }
  return states;
}

describe("node ids", () => {
  it("compare as 64-bit numbers", () => {
    const u64 = fc.bigInt({ min: 1n, max: (1n << 64n) - 1n });
    fc.assert(fc.property(u64, u64, (a, b) => {
      const ha = a.toString(16).toUpperCase(), hb2 = b.toString(16).toUpperCase();
      expect(Math.sign(compareNodeIds(ha, hb2))).toBe(a < b ? -1 : a > b ? 1 : 0);
    }));
    expect(sortNodeIdsDesc(["F", "10", "1", "FFFF", "10000"])).toEqual(["10000", "FFFF", "10", "F", "1"]);
  });

  it("are canonical uppercase hex without leading zeros", () => {
    for (const ok of ["1", "A", "BB9040011AC4202", "FFFFFFFFFFFFFFFF"]) expect(isNodeId(ok)).toBe(true);
    for (const bad of ["", "0", "01", "a", "1G", "10000000000000000", 5, null]) expect(isNodeId(bad)).toBe(false);
  });
});

describe("config", () => {
  it("fills defaults and names the bad field", () => {
    const c = membershipConfig({ nodeId: "A", clusterName: "x" });
    expect(c).toMatchObject({ missedMax: 10, quantumTicks: 3, incarnation: 0 });
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => membershipConfig({ nodeId: "A", clusterName: "x", missedMax: 1 })).toThrow(/missedMax = 1: must be an integer in \[2, 10000\]/);
    expect(() => membershipConfig({ nodeId: "a", clusterName: "x" })).toThrow(/nodeId/);
    expect(() => membershipConfig({ nodeId: "A", clusterName: "x", retryTicks: 5, retryTicksMax: 4 })).toThrow(/retryTicksMax/);
  });
});

describe("a single node", () => {
  it("heartbeats every tick and forms a one-node cluster after the quantum", () => {
    let s = node("A", { quantumTicks: 3 });
    const rng = seededRng(3);
    for (let t = 1; t <= 3; t++) {
      const out = tick(s, rng);
      s = out.state;
      expect(heartbeatOf(out.effects)).toMatchObject({ from: "A", seq: t, clusterKey: null, principal: "A", lead: ["A"] });
      expect(installs(out.effects)).toEqual([]);
    }
    const out = tick(s, rng);
    const [install] = installs(out.effects);
    expect(install).toMatchObject({ kind: "install", succession: ["A"], generation: 1 });
    expect(view(out.state)).toMatchObject({ role: "principal", clusterKey: (install as { clusterKey: string }).clusterKey, stable: true });
    // Nothing more happens while alone.
    let t = out.state;
    for (let i = 0; i < 20; i++) {
      const o = tick(t, rng);
      expect(installs(o.effects)).toEqual([]);
      t = o.state;
    }
  });

  it("ignores heartbeats of another cluster, its own, and malformed ones", () => {
    const s = node("A");
    const rng = seededRng(1);
    let r = step(s, { kind: "heartbeat", message: { ...hb("B"), clusterName: "other" } }, rng);
    expect(r.state.peers.size).toBe(0);
    expect(r.state.counters.foreign).toBe(1);
    r = step(r.state, { kind: "heartbeat", message: hb("A") }, rng);
    expect(r.state.counters.own).toBe(1);
    r = step(r.state, { kind: "heartbeat", message: { ...hb("B"), heard: ["b"] } }, rng);
    r = step(r.state, { kind: "heartbeat", from: "C", message: hb("B") }, rng);
    expect(r.state.counters.malformed).toBe(2);
    expect(r.state.peers.size).toBe(0);
  });

  it("survives any garbage from the network", () => {
    const base = node("A");
    fc.assert(fc.property(fc.anything(), (garbage) => {
      const r = step(base, { kind: "message", message: garbage }, seededRng(1));
      expect(r.state.peers.size).toBe(0);
      expect(r.state.counters.malformed).toBe(1);
    }));
    // Near-misses of a valid heartbeat: one field replaced by anything.
    const keys = Object.keys(hb("B"));
    // Null-prototype objects too (String() throws on them: found by this property).
    fc.assert(fc.property(fc.constantFrom(...keys), fc.anything({ withNullPrototype: true, withBoxedValues: true }), (key, value) => {
      const message = { ...hb("B"), [key]: value };
      const r = step(base, { kind: "heartbeat", message }, seededRng(1));
      const accepted = parseClusterMessage(message).ok && message.clusterName === NAME && message.from !== "A";
      expect(r.state.peers.size).toBe(accepted ? 1 : 0);
    }));
  });

  it("tracks at most peersMax peers and warns once about a node with its own id", () => {
    let s = node("A", { peersMax: 2 });
    const effects: MembershipEffect[] = [];
    for (const from of ["B", "C", "D", "E"]) {
      const out = step(s, { kind: "heartbeat", message: hb(from) }, seededRng(1));
      s = out.state;
      effects.push(...out.effects);
    }
    expect(view(s).peers).toEqual(["C", "B"]);
    expect(s.counters.overflow).toBe(2);
    expect(effects.filter((e) => e.kind === "log" && e.event === "peers-full")).toHaveLength(1);
    for (let i = 0; i < 3; i++) {
      const out = step(s, { kind: "heartbeat", message: hb("A", { incarnation: 9, seq: i + 1 }) }, seededRng(1));
      s = out.state;
      effects.push(...out.effects);
    }
    expect(effects.filter((e) => e.kind === "log" && e.event === "duplicate-node-id")).toHaveLength(1);
  });

  it("loses a peer after missedMax ticks without hearing it", () => {
    const missedMax = 5;
    let s = step(node("A", { missedMax }), { kind: "heartbeat", message: hb("B") }, seededRng(1)).state;
    for (let t = 1; t < missedMax; t++) {
      s = tick(s).state;
      expect(view(s).peers).toEqual(["B"]);
    }
    const out = tick(s);
    expect(view(out.state).peers).toEqual([]);
    expect(out.effects).toContainEqual(expect.objectContaining({ kind: "log", event: "peer-lost" }));
  });

  it("drops late heartbeats (older seq or incarnation)", () => {
    let s = step(node("A"), { kind: "heartbeat", message: hb("B", { seq: 5, incarnation: 2, heard: ["A"] }) }, seededRng(1)).state;
    s = step(s, { kind: "heartbeat", message: hb("B", { seq: 6, incarnation: 1 }) }, seededRng(1)).state;
    s = step(s, { kind: "heartbeat", message: hb("B", { seq: 4, incarnation: 2 }) }, seededRng(1)).state;
    expect(s.counters.stale).toBe(2);
    expect([...s.peers.get("B")!.heard]).toEqual(["A"]);
  });
});

describe("forming a cluster", () => {
  it("three nodes on a perfect network agree on one cluster led by the highest id", () => {
    const ids = ["1", "A", "5"];
    const states = runPerfect(new Map(ids.map((id) => [id, node(id)])), 12);
    const views = [...states.values()].map(view);
    expect(new Set(views.map((v) => v.clusterKey)).size).toBe(1);
    for (const v of views) {
      expect(v.succession).toEqual(["A", "5", "1"]);
      expect(v.principal).toBe("A");
      expect(v.stable).toBe(true);
      expect(v.generation).toBe(views[0]!.generation);
    }
  });

  it("a member accepts its principal's proposal and answers; rejects a generation not above its own", () => {
    // B hears A and A hears B; A leads {A, B}... here we hand B a proposal from A directly.
    let b = step(node("B"), { kind: "heartbeat", message: hb("C", { heard: ["B"], lead: ["C", "B"] }) }, seededRng(1)).state;
    b = tick(b).state;
    expect(b.principal).toBe("C");
    const proposal: ProposeMessage = {
      ...hb("C", { seq: 2, heard: ["B"], lead: ["C", "B"], clusterKey: "1234", generation: 3, succession: ["C", "B"] }),
      kind: "propose", to: "B", toIncarnation: 0,
    };
    const out = step(b, { kind: "message", message: proposal }, seededRng(1));
    expect(installs(out.effects)).toEqual([{ kind: "install", clusterKey: "1234", succession: ["C", "B"], generation: 3 }]);
    expect(out.effects).toContainEqual(expect.objectContaining({ kind: "send", to: "C", message: expect.objectContaining({ kind: "accept", clusterKey: "1234" }) }));
    // A resend of the same proposal is answered again, not installed again.
    const again = step(out.state, { kind: "message", message: { ...proposal, seq: 3 } }, seededRng(1));
    expect(installs(again.effects)).toEqual([]);
    // An older generation under another key: rejected with B's generation.
    const old = step(out.state, { kind: "message", message: { ...proposal, seq: 4, clusterKey: "99", generation: 2 } }, seededRng(1));
    expect(installs(old.effects)).toEqual([]);
    expect(old.effects).toContainEqual(expect.objectContaining({ kind: "send", message: expect.objectContaining({ kind: "reject", generation: 3 }) }));
    // Addressed to another incarnation (B restarted since): ignored.
    const other = step(b, { kind: "message", message: { ...proposal, toIncarnation: 7 } }, seededRng(1));
    expect(installs(other.effects)).toEqual([]);
  });

  it("a member ignores a proposal from a lower node than the one it follows", () => {
    let b = step(node("B"), { kind: "heartbeat", message: hb("D", { heard: ["B"], lead: ["D", "B"] }) }, seededRng(1)).state;
    b = step(b, { kind: "heartbeat", message: hb("C", { heard: ["B"] }) }, seededRng(1)).state;
    b = tick(b).state;
    expect(b.principal).toBe("D");
    const proposal: ProposeMessage = {
      ...hb("C", { seq: 2, heard: ["B"], lead: ["C", "B"], clusterKey: "77", generation: 1, succession: ["C", "B"] }),
      kind: "propose", to: "B", toIncarnation: 0,
    };
    const out = step(b, { kind: "message", message: proposal }, seededRng(1));
    expect(installs(out.effects)).toEqual([]);
  });

  it("the principal proposes again above a rejecting member's generation", () => {
    const states = runPerfect(new Map(["2", "1"].map((id) => [id, node(id)])), 12);
    const principal = states.get("2")!;
    const key = principal.cluster!.key;
    const reject = { kind: "reject", v: 1, from: "1", clusterName: NAME, incarnation: 0, clusterKey: key, generation: 40 };
    let s = step(principal, { kind: "message", message: reject }, seededRng(1)).state;
    expect(s.reproposeWanted).toBe(true);
    let proposed: MembershipEffect[] = [];
    for (let i = 0; i < 5 && proposed.length === 0; i++) {
      const out = tick(s);
      s = out.state;
      proposed = installs(out.effects);
    }
    expect(proposed).toEqual([expect.objectContaining({ generation: 41, succession: ["2", "1"] })]);
    expect(s.cluster!.key).not.toBe(key);
  });

  it("a member that restarts (new incarnation) gets a new cluster", () => {
    let states = runPerfect(new Map(["2", "1"].map((id) => [id, node(id)])), 12);
    const before = states.get("2")!.cluster!;
    states.set("1", node("1", { incarnation: 5 }));
    states = runPerfect(states, 12);
    const after = [...states.values()].map(view);
    expect(after[0]!.clusterKey).toBe(after[1]!.clusterKey);
    expect(after[0]!.clusterKey).not.toBe(before.key);
    expect(after[0]!.generation).toBeGreaterThan(before.generation);
    expect(after.every((v) => v.stable)).toBe(true);
  });
});

// ── election ──────────────────────────────────────────────────────────────────────────────────

type Graph = { ids: NodeId[]; hears: (a: NodeId, b: NodeId) => boolean };

/**
 * Iterates electRole in synchronous rounds, every node reading the others' previous round, until
 * nothing changes. Returns the roles, or null if no fixed point within `roundsMax`.
 */
function settleRoles(g: Graph, roundsMax: number, order: (ids: NodeId[]) => NodeId[] = (x) => x) {
  let roles = new Map(g.ids.map((id) => [id, { principal: id, lead: [id] as readonly NodeId[] }]));
  for (let round = 0; round < roundsMax; round++) {
    const next = new Map<NodeId, { principal: NodeId; lead: readonly NodeId[] }>();
    for (const self of g.ids) {
      const peers = new Map<NodeId, PeerReport>();
      for (const p of order(g.ids.filter((x) => x !== self && g.hears(self, x)))) {
        peers.set(p, { heard: new Set(g.ids.filter((x) => x !== p && g.hears(p, x))), ...roles.get(p)! });
      }
      next.set(self, electRole(self, peers));
    }
    const same = g.ids.every((id) => next.get(id)!.principal === roles.get(id)!.principal &&
      next.get(id)!.lead.join() === roles.get(id)!.lead.join());
    roles = next;
    if (same) return { roles, rounds: round };
  }
  return null;
}

/** The naive reference: highest unassigned node leads a greedy clique of unassigned nodes below it. */
function referenceGroups(g: Graph): NodeId[][] {
  const edge = (a: NodeId, b: NodeId) => g.hears(a, b) && g.hears(b, a);
  const left = new Set(g.ids);
  const groups: NodeId[][] = [];
  for (const top of sortNodeIdsDesc(g.ids)) {
    if (!left.has(top)) continue;
    const group = [top];
    left.delete(top);
    for (const c of sortNodeIdsDesc(left)) {
      if (compareNodeIds(c, top) < 0 && group.every((m) => edge(c, m))) {
        group.push(c);
        left.delete(c);
      }
    }
    groups.push(group);
  }
  return groups;
}

const graphArb = fc.integer({ min: 1, max: 10 }).chain((n) =>
  fc.record({
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    // Directed "a hears b" matrix, dense on purpose: clusters form around cliques.
    hears: fc.array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: n, maxLength: n }), { minLength: n, maxLength: n }),
    density: fc.constantFrom(0.5, 0.8, 0.95, 1),
  }).map(({ seed, hears, density }) => {
    const rng = seededRng(seed);
    const ids = [...new Set(Array.from({ length: n }, () => randomHex64(rng).slice(0, 1 + rng.int(16))))]
      .filter((id) => !id.startsWith("0"));
    const index = new Map(ids.map((id, i) => [id, i]));
    const g: Graph = { ids, hears: (a, b) => a !== b && hears[index.get(a)!]![index.get(b)!]! < density };
    return g;
  }));

describe("principal election", () => {
  it("examples: full graph, chain, one-way link", () => {
    const full = settleRoles({ ids: ["1", "2", "3"], hears: (a, b) => a !== b }, 10)!;
    expect(full.roles.get("3")).toEqual({ principal: "3", lead: ["3", "2", "1"] });
    expect(full.roles.get("1")).toEqual({ principal: "3", lead: [] });
    // 1—2—3 without 1—3: 3 takes {3, 2}; 1 is left alone.
    const chain = settleRoles({ ids: ["1", "2", "3"], hears: (a, b) => a !== b && !(a + b === "13" || a + b === "31") }, 10)!;
    expect(chain.roles.get("3")!.lead).toEqual(["3", "2"]);
    expect(chain.roles.get("1")).toEqual({ principal: "1", lead: ["1"] });
    // 1 does not hear 3 (3 hears 1): no edge.
    const oneWay = settleRoles({ ids: ["1", "2", "3"], hears: (a, b) => a !== b && !(a === "1" && b === "3") }, 10)!;
    expect(oneWay.roles.get("3")!.lead).toEqual(["3", "2"]);
  });

  it("converges, on every node, to the naive centralized assignment, whatever the map order", () => {
    fc.assert(fc.property(graphArb, fc.integer(), (g, orderSeed) => {
      const settled = settleRoles(g, 2 * g.ids.length + 4);
      expect(settled).not.toBeNull();
      const expected = referenceGroups(g);
      for (const group of expected) {
        const top = group[0]!;
        expect(settled!.roles.get(top)).toEqual({ principal: top, lead: group });
        for (const member of group.slice(1)) expect(settled!.roles.get(member)).toEqual({ principal: top, lead: [] });
      }
      // Deterministic: the same adjacency in another map order elects the same.
      const rng = seededRng(orderSeed);
      const shuffled = settleRoles(g, 2 * g.ids.length + 4, (ids) => shuffle(rng, [...ids]));
      expect(shuffled!.roles).toEqual(settled!.roles);
    }), { numRuns: 300 });
  });
});

// ── purity and wire format ────────────────────────────────────────────────────────────────────

function snapshot(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (v instanceof Map) return { map: [...v.entries()] };
    if (v instanceof Set) return { set: [...v] };
    return v;
  });
}

describe("step", () => {
  it("never mutates its input, and is deterministic given the rng", () => {
    const eventArb = fc.oneof(
      fc.constant({ kind: "tick" as const }),
      fc.record({
        kind: fc.constant("heartbeat" as const),
        message: fc.record({
          from: fc.constantFrom("1", "2", "B"),
          seq: fc.integer({ min: 0, max: 50 }),
          heard: fc.subarray(["A", "1", "2", "B"]),
          lead: fc.constantFrom([], ["B", "A"], ["B", "A", "2", "1"]),
        }).map(({ from, seq, heard, lead }) => hb(from, {
          seq, heard: heard.filter((x) => x !== from),
          ...(from === "B" && lead.length > 0 ? { lead } : { principal: from, lead: [from] }),
        })),
      }),
    );
    fc.assert(fc.property(fc.array(eventArb, { maxLength: 60 }), fc.integer(), (events, seed) => {
      let s = node("A", { quantumTicks: 1 });
      const rngA = seededRng(seed), rngB = seededRng(seed);
      for (const event of events) {
        const before = snapshot(s);
        const a = step(s, event, rngA);
        const b = step(s, event, rngB);
        expect(snapshot(s)).toBe(before);
        expect(snapshot(a)).toBe(snapshot(b));
        s = a.state;
      }
    }), { numRuns: 200 });
  });

  it("emits plain-data messages that survive msgpack and validate", () => {
    const packr = new Packr({ useRecords: false, mapsAsObjects: true });
    const states = runPerfect(new Map(["1", "2", "3"].map((id) => [id, node(id)])), 3);
    let s = states.get("3")!;
    for (let i = 0; i < 6; i++) {
      const out = tick(s);
      s = out.state;
      for (const e of out.effects) {
        if (e.kind !== "broadcast-heartbeat" && e.kind !== "send") continue;
        const copy = packr.unpack(packr.pack(e.message));
        expect(copy).toEqual(e.message);
        expect(parseClusterMessage(copy).ok).toBe(true);
      }
    }
  });
});

// ── rng and timeout ───────────────────────────────────────────────────────────────────────────

describe("rng", () => {
  it("replays from a seed, forks independent streams, and stays in range", () => {
    const a = seededRng(42), b = seededRng(42);
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(seededRng(43).next()).not.toBe(xs[0]);
    expect(seededRng(2 ** 40).next()).not.toBe(seededRng(0).next());
    const f1 = a.fork(), f2 = a.fork();
    expect(f1.next()).not.toBe(f2.next());
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 32 }), fc.integer(), (n, seed) => {
      const r = seededRng(seed);
      for (let i = 0; i < 20; i++) {
        const x = r.int(n);
        expect(Number.isInteger(x) && x >= 0 && x < n).toBe(true);
      }
    }));
    const r = seededRng(9);
    const heads = Array.from({ length: 10_000 }, () => r.bool(0.25)).filter(Boolean).length;
    expect(heads).toBeGreaterThan(2200);
    expect(heads).toBeLessThan(2800);
    expect(randomHex64(r)).toMatch(/^[1-9A-F][0-9A-F]{0,15}$/);
  });
});

describe("Timeout", () => {
  it("fires after `after` ticks, backs off with bounded jitter, resets", () => {
    let t = Timeout.create("t", 3, 20);
    expect(t.tick().fired()).toBe(false); // stopped: does not count
    t = t.start();
    for (let i = 0; i < 2; i++) t = t.tick();
    expect(t.fired()).toBe(false);
    t = t.tick();
    expect(t.fired()).toBe(true);
    const rng = seededRng(5);
    let maxSeen = 0;
    for (let i = 0; i < 200; i++) {
      t = t.backoff(rng);
      expect(t.current).toBeGreaterThanOrEqual(3);
      expect(t.current).toBeLessThanOrEqual(20);
      maxSeen = Math.max(maxSeen, t.current);
    }
    expect(maxSeen).toBeGreaterThan(10);
    expect(t.attempts).toBe(200);
    t = t.reset();
    expect([t.current, t.attempts, t.ticks, t.remaining()]).toEqual([3, 0, 0, 3]);
    expect(t.stop().fired()).toBe(false);
    expect(() => Timeout.create("bad", 0)).toThrow(/after/);
  });
});

describe("peer-unreachable (fast failure hint from the shell)", () => {
  it("drops the peer at the next tick instead of after missedMax silent ticks", () => {
    let a = node("A", { missedMax: 10 });
    a = step(a, { kind: "heartbeat", message: hb("B", { heard: ["A"] }) }, seededRng(1)).state;
    a = tick(a).state;
    expect(view(a).peers).toEqual(["B"]);
    a = step(a, { kind: "peer-unreachable", peer: "B" }, seededRng(1)).state;
    expect(view(a).peers).toEqual(["B"]); // nothing happens until the tick
    a = tick(a).state;
    expect(view(a).peers).toEqual([]);
  });

  it("is ignored for an unknown peer, and a wrong hint heals with the next heartbeat", () => {
    let a = node("A");
    const before = a;
    a = step(a, { kind: "peer-unreachable", peer: "C" }, seededRng(1)).state;
    expect(view(a)).toEqual(view(before));
    a = step(a, { kind: "heartbeat", message: hb("B", { heard: ["A"], seq: 1 }) }, seededRng(1)).state;
    a = step(a, { kind: "peer-unreachable", peer: "B" }, seededRng(1)).state;
    a = tick(a).state;
    expect(view(a).peers).toEqual([]);
    a = step(a, { kind: "heartbeat", message: hb("B", { heard: ["A"], seq: 2 }) }, seededRng(1)).state;
    a = tick(a).state;
    expect(view(a).peers).toEqual(["B"]);
  });
});
