/**
 * Membership: who is in the cluster, decided by a pure state machine.
 *
 * `step(state, event, rng) → {state, effects}`. Events are ticks (one per heartbeat interval) and
 * received messages; effects are messages to send, `install` (a new cluster: key, succession list,
 * generation) and logs. No clock, no sockets, no Math.random: the shell (server/cluster) feeds
 * ticks and decoded messages in and carries effects out; test/sim runs many of these in one
 * process on a fake network. `step` never mutates its input state.
 *
 * Protocol (docs/membership.md has the long form):
 *
 *   every tick    expire peers not heard for `missedMax` ticks; elect (below); if principal and
 *                 the lead set has been unchanged for `quantumTicks`, propose; broadcast heartbeat
 *   heartbeat     {from, clusterName, incarnation, seq, clusterKey, generation, succession,
 *                  heard, principal, lead}: liveness, adjacency, and the sender's election result
 *   propose       a heartbeat addressed to one member {to, toIncarnation}: "install my cluster"
 *   accept/reject the member's answer; a heartbeat that reports the key also counts as accept
 *
 * Election (`electRole`), evaluated by every node on what it knows, converges top-down by id:
 *
 *   edge a—b      a hears b and b hears a (each node's `heard` is what its heartbeat reports;
 *                 a node's own is the set of peers it heard within missedMax ticks)
 *   follower      if some higher neighbour h leads a set containing me, I follow the highest one
 *   principal     otherwise I lead: lead = me + neighbours below me that do not follow a node
 *                 above me, taken greedily in descending id order, each kept only if it has an
 *                 edge to every node already taken (so lead is a clique with me at its top)
 *
 * The highest node of a connected group leads whatever clique greedy gives it; nodes it leaves
 * out are taken, in turn, by the highest of them, and so on. Once heartbeats have carried the
 * adjacency and the claims around, every node computes the same assignment; on a fully connected
 * group (a healed network, or one side of a clean partition) it is the whole group, led by its
 * highest id. Node ids compare as 64-bit numbers.
 *
 * Installing: the principal waits until its lead set has been stable for `quantumTicks`, then
 * installs {fresh random key, succession = lead (descending), generation = 1 + the highest
 * generation any member reports} and proposes it to each member, addressed to the member's
 * incarnation. A member accepts if the proposal comes from the node it follows, or from a higher
 * neighbour (its own view lags); if the generation is not above its own, it rejects and the
 * principal proposes again above it. Unacknowledged proposals are resent with jittered backoff.
 *
 * Invariants (asserted by test/sim after every step):
 *   - a cluster key names one (succession, generation), everywhere and forever;
 *   - an installed succession contains its node, is strictly descending, starts at its principal;
 *   - a node's generation only grows within an incarnation;
 *   - after faults stop, each connected group installs one cluster of exactly its live members.
 */
import { randomHex64, type Rng } from "./rng.js";
import { Timeout } from "./timeout.js";

// ── node ids ────────────────────────────────────────────────────────────────────────────────────

/** A 64-bit node id: 1–16 uppercase hex digits, no leading zeros, not zero. */
export type NodeId = string;

const NODE_ID_RE = /^[1-9A-F][0-9A-F]{0,15}$/;

export function isNodeId(value: unknown): value is NodeId {
  return typeof value === "string" && NODE_ID_RE.test(value);
}

/** Numeric order of canonical ids: a longer id is larger, equal lengths compare as text. */
export function compareNodeIds(a: NodeId, b: NodeId): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Highest first: the order of succession lists. */
export function sortNodeIdsDesc(ids: Iterable<NodeId>): NodeId[] {
  return [...ids].sort((a, b) => compareNodeIds(b, a));
}

function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isStrictlyDescending(ids: readonly NodeId[]): boolean {
  for (let i = 1; i < ids.length; i++) if (compareNodeIds(ids[i - 1]!, ids[i]!) <= 0) return false;
  return true;
}

// ── configuration ───────────────────────────────────────────────────────────────────────────────

export const MEMBERSHIP_PROTOCOL_VERSION = 1;
/** Longest id list accepted from the wire (the design targets clusters of up to 64 nodes). */
export const MEMBERSHIP_LIST_MAX = 256;
export const CLUSTER_NAME_LENGTH_MAX = 64;

/** A peer is lost after this many ticks (heartbeat intervals) without a heartbeat from it. */
export const MISSED_MAX_DEFAULT = 10;
/** The lead set must be unchanged this long before the principal proposes: ~450 ms at 150 ms. */
export const QUANTUM_TICKS_DEFAULT = 3;
/** First resend of an unacknowledged proposal; doubles with jitter up to RETRY_TICKS_MAX. */
export const RETRY_TICKS_DEFAULT = 2;
export const RETRY_TICKS_MAX_DEFAULT = 16;
/** Peers tracked at once; heartbeats from more new nodes are dropped (counted). */
export const PEERS_MAX_DEFAULT = 64;

export interface MembershipConfig {
  /** This node's id. */
  readonly nodeId: NodeId;
  /** Heartbeats and messages naming another cluster are ignored (counted as `foreign`). */
  readonly clusterName: string;
  /**
   * Grows on every boot of the same node id (the shell passes its boot time in ms), so peers tell
   * a restarted node from a delayed packet of its previous life. @default 0
   */
  readonly incarnation: number;
  /** Ticks without a heartbeat after which a peer is lost. @default 10 */
  readonly missedMax: number;
  /** Ticks the lead set must stay unchanged before the principal proposes. @default 3 */
  readonly quantumTicks: number;
  /** Ticks before the first resend of an unacknowledged proposal. @default 2 */
  readonly retryTicks: number;
  /** Cap of the resend backoff. @default 16 */
  readonly retryTicksMax: number;
  /** Peers tracked at once. @default 64 */
  readonly peersMax: number;
}

export type MembershipOptions = Pick<MembershipConfig, "nodeId" | "clusterName"> & Partial<MembershipConfig>;

function checkInt(field: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`membership ${field} = ${String(value)}: must be an integer in [${min}, ${max}]`);
  }
}

/** Defaults filled in, every field checked (a RangeError names the field and the range). */
export function membershipConfig(options: MembershipOptions): MembershipConfig {
  const config: MembershipConfig = {
    incarnation: 0,
    missedMax: MISSED_MAX_DEFAULT,
    quantumTicks: QUANTUM_TICKS_DEFAULT,
    retryTicks: RETRY_TICKS_DEFAULT,
    retryTicksMax: RETRY_TICKS_MAX_DEFAULT,
    peersMax: PEERS_MAX_DEFAULT,
    ...options,
  };
  if (!isNodeId(config.nodeId)) {
    throw new RangeError(`membership nodeId = '${String(config.nodeId)}': must be 1-16 uppercase hex digits without leading zeros`);
  }
  if (typeof config.clusterName !== "string" || config.clusterName.length > CLUSTER_NAME_LENGTH_MAX) {
    throw new RangeError(`membership clusterName must be a string of at most ${CLUSTER_NAME_LENGTH_MAX} characters`);
  }
  checkInt("incarnation", config.incarnation, 0, Number.MAX_SAFE_INTEGER);
  checkInt("missedMax", config.missedMax, 2, 10_000);
  checkInt("quantumTicks", config.quantumTicks, 1, 10_000);
  checkInt("retryTicks", config.retryTicks, 1, 10_000);
  checkInt("retryTicksMax", config.retryTicksMax, config.retryTicks, 100_000);
  checkInt("peersMax", config.peersMax, 1, MEMBERSHIP_LIST_MAX - 1);
  return Object.freeze(config);
}

// ── messages (plain data: msgpack and JSON round-trip them) ─────────────────────────────────────

interface MessageBase {
  readonly v: typeof MEMBERSHIP_PROTOCOL_VERSION;
  readonly from: NodeId;
  readonly clusterName: string;
  readonly incarnation: number;
}

/** Broadcast every tick to every known address. */
export interface HeartbeatMessage extends MessageBase {
  readonly kind: "heartbeat";
  /** Heartbeat number within this incarnation; a lower one than already seen is a late packet. */
  readonly seq: number;
  /** The sender's installed cluster, or null and [] before its first install. */
  readonly clusterKey: string | null;
  readonly generation: number;
  readonly succession: readonly NodeId[];
  /** The peers the sender heard within missedMax ticks: its adjacency. */
  readonly heard: readonly NodeId[];
  /** Whom the sender follows (itself when it leads). */
  readonly principal: NodeId;
  /** The set the sender leads, descending, starting with itself; [] when it follows. */
  readonly lead: readonly NodeId[];
}

/** "Install my cluster": the sender's heartbeat, addressed to one incarnation of one member. */
export interface ProposeMessage extends Omit<HeartbeatMessage, "kind"> {
  readonly kind: "propose";
  readonly to: NodeId;
  readonly toIncarnation: number;
}

/** A member's answer. `reject` carries the member's own generation, which the next try must exceed. */
export interface AnswerMessage extends MessageBase {
  readonly kind: "accept" | "reject";
  readonly clusterKey: string;
  readonly generation: number;
}

export type ClusterMessage = HeartbeatMessage | ProposeMessage | AnswerMessage;

const KEY_RE = NODE_ID_RE; // cluster keys print like node ids: non-zero 64-bit hex

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isIdList(value: unknown, descending: boolean): value is NodeId[] {
  if (!Array.isArray(value) || value.length > MEMBERSHIP_LIST_MAX) return false;
  if (!value.every(isNodeId)) return false;
  return !descending || isStrictlyDescending(value);
}

/** A field's value for an error message; never throws (String() does on a null-prototype object). */
function show(v: unknown): string {
  return v !== null && (typeof v === "object" || typeof v === "function") ? typeof v : String(v);
}

/**
 * Checks a decoded message before the core trusts any field of it. Returns the message, or a
 * reason for dropping it.
 */
export function parseClusterMessage(raw: unknown): { ok: true; message: ClusterMessage } | { ok: false; error: string } {
  const fail = (error: string) => ({ ok: false as const, error });
  if (typeof raw !== "object" || raw === null) return fail("not an object");
  const m = raw as Record<string, unknown>;
  if (m.v !== MEMBERSHIP_PROTOCOL_VERSION) return fail(`protocol version ${show(m.v)}`);
  if (!isNodeId(m.from)) return fail("bad from");
  if (typeof m.clusterName !== "string" || m.clusterName.length > CLUSTER_NAME_LENGTH_MAX) return fail("bad clusterName");
  if (!isCount(m.incarnation)) return fail("bad incarnation");
  if (!isCount(m.generation)) return fail("bad generation");
  if (m.kind === "accept" || m.kind === "reject") {
    if (typeof m.clusterKey !== "string" || !KEY_RE.test(m.clusterKey)) return fail("bad clusterKey");
    return { ok: true, message: m as unknown as AnswerMessage };
  }
  if (m.kind !== "heartbeat" && m.kind !== "propose") return fail(`unknown kind ${show(m.kind)}`);
  if (!isCount(m.seq)) return fail("bad seq");
  if (!isIdList(m.heard, false) || !isIdList(m.succession, true) || !isIdList(m.lead, true)) return fail("bad id list");
  if (!isNodeId(m.principal)) return fail("bad principal");
  // Semantic checks: a node's cluster contains it; a leader's lead starts with it; a follower leads nothing.
  if (m.clusterKey === null) {
    if (m.succession.length !== 0) return fail("succession without a cluster key");
  } else if (typeof m.clusterKey !== "string" || !KEY_RE.test(m.clusterKey) || !m.succession.includes(m.from)) {
    return fail("bad clusterKey or succession");
  }
  if (m.principal === m.from ? m.lead[0] !== m.from : m.lead.length !== 0) return fail("lead inconsistent with principal");
  if (m.kind === "propose") {
    if (!isNodeId(m.to) || !isCount(m.toIncarnation)) return fail("bad propose address");
    if (m.principal !== m.from || m.clusterKey === null || !sameIds(m.succession, m.lead)) return fail("propose without a led cluster");
  }
  return { ok: true, message: m as unknown as HeartbeatMessage | ProposeMessage };
}

// ── state ───────────────────────────────────────────────────────────────────────────────────────

/** What this node knows of one peer: its latest heartbeat. */
export interface PeerRecord {
  readonly incarnation: number;
  readonly seq: number;
  /** state.now when the heartbeat arrived. */
  readonly lastHeard: number;
  readonly heard: ReadonlySet<NodeId>;
  readonly principal: NodeId;
  readonly lead: readonly NodeId[];
  readonly clusterKey: string | null;
  readonly generation: number;
  readonly succession: readonly NodeId[];
}

/** The part of a peer record the election reads. */
export type PeerReport = Pick<PeerRecord, "heard" | "principal" | "lead">;

export interface InstalledCluster {
  readonly key: string;
  /** Descending node ids; [0] is the principal that proposed it. */
  readonly succession: readonly NodeId[];
  readonly generation: number;
}

/** The principal's latest proposal and who has acknowledged it. */
export interface Proposal extends InstalledCluster {
  /** Each member's incarnation when proposed: answers from another incarnation do not count. */
  readonly incarnations: ReadonlyMap<NodeId, number>;
  readonly acked: ReadonlySet<NodeId>;
  readonly proposedAt: number;
  readonly retry: Timeout;
}

export interface MembershipCounters {
  /** Messages that failed validation. */
  readonly malformed: number;
  /** Messages naming another cluster. */
  readonly foreign: number;
  /** Late or duplicate heartbeats (older incarnation or seq). */
  readonly stale: number;
  /** Heartbeats carrying our own id (loopback, or another node configured with our id). */
  readonly own: number;
  /** Heartbeats from new peers dropped because peersMax peers are tracked. */
  readonly overflow: number;
}

export interface MembershipState {
  readonly config: MembershipConfig;
  /** Ticks since this state was created. */
  readonly now: number;
  /** Sequence number of the latest heartbeat sent. */
  readonly seq: number;
  /** Peers heard within missedMax ticks. */
  readonly peers: ReadonlyMap<NodeId, PeerRecord>;
  /** Whom this node follows, as elected at the latest tick (itself when it leads). */
  readonly principal: NodeId;
  /** The set this node leads (descending, itself first), or [] when it follows. */
  readonly lead: readonly NodeId[];
  /** Ticks since `lead` last changed. */
  readonly stableTicks: number;
  readonly cluster: InstalledCluster | null;
  /** Only while leading. */
  readonly proposal: Proposal | null;
  /** Set when a member restarted, rejected, or cannot take the current proposal: propose anew. */
  readonly reproposeWanted: boolean;
  /** The highest generation a reject reported: the next proposal goes above it. */
  readonly generationFloor: number;
  readonly counters: MembershipCounters;
}

export function createMembership(options: MembershipOptions): MembershipState {
  const config = membershipConfig(options);
  return {
    config,
    now: 0,
    seq: 0,
    peers: new Map(),
    principal: config.nodeId,
    lead: [],
    stableTicks: 0,
    cluster: null,
    proposal: null,
    reproposeWanted: false,
    generationFloor: 0,
    counters: { malformed: 0, foreign: 0, stale: 0, own: 0, overflow: 0 },
  };
}

// ── events and effects ──────────────────────────────────────────────────────────────────────────

export type MembershipEvent =
  /** One heartbeat interval passed. */
  | { readonly kind: "tick" }
  /** A decoded packet from the heartbeat channel or the fabric; `from` if the transport knows it. */
  | { readonly kind: "heartbeat" | "message"; readonly from?: NodeId; readonly message: unknown }
  /**
   * The shell has positive evidence that a peer's process is gone (its fabric port refused a
   * connection right after an established link closed): treat it as silent for missedMax ticks,
   * so the next tick drops it instead of waiting out the heartbeat timeout. If the evidence was
   * wrong, the peer's next heartbeat brings it back like any new peer.
   */
  | { readonly kind: "peer-unreachable"; readonly peer: NodeId };

export type LogLevel = "debug" | "info" | "warn";

export type MembershipEffect =
  /** Send to every known heartbeat address (this tick's heartbeat). */
  | { readonly kind: "broadcast-heartbeat"; readonly message: HeartbeatMessage }
  | { readonly kind: "send"; readonly to: NodeId; readonly message: ProposeMessage | AnswerMessage }
  /** This node now belongs to this cluster: recompute the partition map from `succession`. */
  | {
      readonly kind: "install";
      readonly clusterKey: string;
      readonly succession: readonly NodeId[];
      readonly generation: number;
    }
  | { readonly kind: "log"; readonly level: LogLevel; readonly event: string; readonly fields: Readonly<Record<string, unknown>> };

export interface MembershipStep {
  readonly state: MembershipState;
  readonly effects: readonly MembershipEffect[];
}

type Draft = { -readonly [K in keyof MembershipState]: MembershipState[K] };
type Effects = MembershipEffect[];

function log(fx: Effects, level: LogLevel, event: string, fields: Record<string, unknown>): void {
  fx.push({ kind: "log", level, event, fields });
}

function count(d: Draft, counter: keyof MembershipCounters): void {
  d.counters = { ...d.counters, [counter]: d.counters[counter] + 1 };
}

// ── election ────────────────────────────────────────────────────────────────────────────────────

export interface Role {
  /** Whom the node follows; itself when it leads. */
  readonly principal: NodeId;
  /** What it leads (descending, itself first), or [] when it follows. */
  readonly lead: readonly NodeId[];
}

/**
 * Who `self` follows and what it leads, from the reports of the peers it currently hears (a
 * node's own adjacency is the key set of `peers`). Deterministic: depends only on the contents,
 * not on map order. O(n²) set lookups for n peers.
 */
export function electRole(self: NodeId, peers: ReadonlyMap<NodeId, PeerReport>): Role {
  // A neighbour: I hear it (it is in `peers`) and it reports hearing me.
  let followed: NodeId | null = null;
  const below: NodeId[] = [];
  for (const [id, report] of peers) {
    if (!report.heard.has(self)) continue;
    if (compareNodeIds(id, self) > 0) {
      const leadsMe = report.principal === id && report.lead.includes(self);
      if (leadsMe && (followed === null || compareNodeIds(id, followed) > 0)) followed = id;
    } else if (compareNodeIds(report.principal, self) <= 0) {
      below.push(id); // not claimed by anyone above me
    }
  }
  if (followed !== null) return { principal: followed, lead: [] };

  const edge = (a: NodeId, b: NodeId) => peers.get(a)!.heard.has(b) && peers.get(b)!.heard.has(a);
  const lead: NodeId[] = [self];
  for (const candidate of sortNodeIdsDesc(below)) {
    let clique = true;
    for (let i = 1; i < lead.length && clique; i++) clique = edge(candidate, lead[i]!);
    if (clique) lead.push(candidate);
  }
  return { principal: self, lead: Object.freeze(lead) };
}

// ── step ────────────────────────────────────────────────────────────────────────────────────────

/** Advances the state machine by one event. Does not mutate `state`; `rng` is advanced. */
export function step(state: MembershipState, event: MembershipEvent, rng: Rng): MembershipStep {
  const d: Draft = { ...state };
  const fx: Effects = [];
  if (event.kind === "tick") onTick(d, fx, rng);
  else if (event.kind === "peer-unreachable") onUnreachable(d, fx, event.peer);
  else onMessage(d, fx, event.message, event.from);
  return { state: d, effects: fx };
}

function onTick(d: Draft, fx: Effects, rng: Rng): void {
  const self = d.config.nodeId;
  d.now += 1;
  d.seq += 1;
  expirePeers(d, fx);

  const role = electRole(self, d.peers);
  if (role.principal !== d.principal) {
    log(fx, "info", "principal-changed", { principal: role.principal, previous: d.principal });
  }
  d.stableTicks = sameIds(role.lead, d.lead) ? d.stableTicks + 1 : 0;
  d.principal = role.principal;
  d.lead = role.lead;

  let proposeTo: readonly NodeId[] = [];
  if (role.principal === self) {
    proposeTo = leadTick(d, fx, rng);
  } else {
    d.proposal = null;
    d.reproposeWanted = false;
  }
  const heartbeat = heartbeatOf(d);
  fx.push({ kind: "broadcast-heartbeat", message: heartbeat });
  const proposal = d.proposal;
  for (const to of proposeTo) {
    const toIncarnation = proposal!.incarnations.get(to)!;
    fx.push({ kind: "send", to, message: { ...heartbeat, kind: "propose", to, toIncarnation } });
  }
}

function onUnreachable(d: Draft, fx: Effects, peer: NodeId): void {
  const record = d.peers.get(peer);
  if (record === undefined || d.now - record.lastHeard >= d.config.missedMax) return;
  d.peers = new Map(d.peers).set(peer, { ...record, lastHeard: d.now - d.config.missedMax });
  log(fx, "info", "peer-unreachable", { peer });
}

function expirePeers(d: Draft, fx: Effects): void {
  let peers: Map<NodeId, PeerRecord> | null = null;
  for (const [id, peer] of d.peers) {
    if (d.now - peer.lastHeard < d.config.missedMax) continue;
    peers ??= new Map(d.peers);
    peers.delete(id);
    log(fx, "info", "peer-lost", { peer: id, silentTicks: d.now - peer.lastHeard });
  }
  if (peers !== null) d.peers = peers;
}

/** The principal's tick: propose when settled, otherwise resend to members that have not answered. */
function leadTick(d: Draft, fx: Effects, rng: Rng): readonly NodeId[] {
  const quantum = d.config.quantumTicks;
  const p = d.proposal;
  const current = p !== null && d.cluster !== null && p.key === d.cluster.key && sameIds(p.succession, d.lead);
  // Settled: the lead set has not changed for a quantum, and we did not propose within one.
  const settled = d.stableTicks >= quantum && (p === null || d.now - p.proposedAt >= quantum);
  if (settled && (!current || d.reproposeWanted)) return propose(d, fx, rng);
  if (!current) return [];

  const unacked = p.succession.filter((m) => !p.acked.has(m));
  if (unacked.length === 0) {
    if (p.retry.ticking) d.proposal = { ...p, retry: p.retry.stop() };
    return [];
  }
  let retry = p.retry.tick();
  if (!retry.fired()) {
    d.proposal = { ...p, retry };
    return [];
  }
  retry = retry.backoff(rng);
  d.proposal = { ...p, retry };
  log(fx, "debug", "propose-resent", { clusterKey: p.key, to: unacked, attempt: retry.attempts });
  return unacked;
}

function propose(d: Draft, fx: Effects, rng: Rng): readonly NodeId[] {
  const self = d.config.nodeId;
  const succession = d.lead;
  let generation = Math.max(d.cluster?.generation ?? 0, d.generationFloor);
  const incarnations = new Map<NodeId, number>([[self, d.config.incarnation]]);
  for (const member of succession) {
    if (member === self) continue;
    const peer = d.peers.get(member)!;
    generation = Math.max(generation, peer.generation);
    incarnations.set(member, peer.incarnation);
  }
  generation += 1;
  let key = randomHex64(rng);
  while (key === d.cluster?.key) key = randomHex64(rng);

  d.cluster = { key, succession, generation };
  d.proposal = {
    key,
    succession,
    generation,
    incarnations,
    acked: new Set([self]),
    proposedAt: d.now,
    retry: Timeout.create("propose-retry", d.config.retryTicks, d.config.retryTicksMax).start(),
  };
  d.reproposeWanted = false;
  fx.push({ kind: "install", clusterKey: key, succession, generation });
  log(fx, "info", "proposed", { clusterKey: key, generation, succession });
  return succession.filter((m) => m !== self);
}

function heartbeatOf(d: Draft): HeartbeatMessage {
  return {
    kind: "heartbeat",
    v: MEMBERSHIP_PROTOCOL_VERSION,
    from: d.config.nodeId,
    clusterName: d.config.clusterName,
    incarnation: d.config.incarnation,
    seq: d.seq,
    clusterKey: d.cluster?.key ?? null,
    generation: d.cluster?.generation ?? 0,
    succession: d.cluster?.succession ?? [],
    heard: sortNodeIdsDesc(d.peers.keys()),
    principal: d.principal,
    lead: d.lead,
  };
}

function onMessage(d: Draft, fx: Effects, raw: unknown, from: NodeId | undefined): void {
  const parsed = parseClusterMessage(raw);
  if (!parsed.ok || (from !== undefined && from !== parsed.message.from)) {
    count(d, "malformed");
    log(fx, "debug", "message-dropped", { reason: parsed.ok ? "sender mismatch" : parsed.error, from });
    return;
  }
  const msg = parsed.message;
  if (msg.clusterName !== d.config.clusterName) return count(d, "foreign");
  if (msg.from === d.config.nodeId) {
    if (msg.incarnation !== d.config.incarnation && d.counters.own === 0) {
      log(fx, "warn", "duplicate-node-id", { nodeId: msg.from, incarnation: msg.incarnation });
    }
    return count(d, "own");
  }
  switch (msg.kind) {
    case "heartbeat":
    case "propose":
      onHeartbeat(d, fx, msg);
      if (msg.kind === "propose") onPropose(d, fx, msg);
      return;
    case "accept":
    case "reject":
      return onAnswer(d, fx, msg);
  }
}

function onHeartbeat(d: Draft, fx: Effects, msg: HeartbeatMessage | ProposeMessage): void {
  const prev = d.peers.get(msg.from);
  const fresh = prev === undefined || msg.incarnation > prev.incarnation || (msg.incarnation === prev.incarnation && msg.seq > prev.seq);
  if (!fresh) return count(d, "stale");
  if (prev === undefined && d.peers.size >= d.config.peersMax) {
    if (d.counters.overflow === 0) log(fx, "warn", "peers-full", { peersMax: d.config.peersMax, dropped: msg.from });
    return count(d, "overflow");
  }
  const record: PeerRecord = {
    incarnation: msg.incarnation,
    seq: msg.seq,
    lastHeard: d.now,
    heard: new Set(msg.heard),
    principal: msg.principal,
    lead: msg.lead,
    clusterKey: msg.clusterKey,
    generation: msg.generation,
    succession: msg.succession,
  };
  d.peers = new Map(d.peers).set(msg.from, record);
  const restarted = prev !== undefined && msg.incarnation > prev.incarnation;
  if (prev === undefined) log(fx, "debug", "peer-heard", { peer: msg.from });
  if (restarted) log(fx, "info", "peer-restarted", { peer: msg.from, incarnation: msg.incarnation });

  // Principal's bookkeeping: a member's heartbeat acknowledges, or tells us to propose again.
  const p = d.proposal;
  if (p === null || !p.incarnations.has(msg.from)) return;
  if (prev === undefined || restarted) {
    d.reproposeWanted = true; // the member (re)joined with fresh state: give it a fresh cluster
  } else if (msg.clusterKey === p.key && msg.incarnation === p.incarnations.get(msg.from)) {
    if (!p.acked.has(msg.from)) d.proposal = { ...p, acked: new Set(p.acked).add(msg.from) };
  } else if (msg.principal === d.config.nodeId && msg.generation >= p.generation) {
    d.reproposeWanted = true; // it follows us but cannot take this generation
  }
}

function onPropose(d: Draft, fx: Effects, msg: ProposeMessage): void {
  const self = d.config.nodeId;
  const answer = (kind: "accept" | "reject", generation: number): void => {
    fx.push({
      kind: "send",
      to: msg.from,
      message: {
        kind, v: MEMBERSHIP_PROTOCOL_VERSION, from: self, clusterName: d.config.clusterName,
        incarnation: d.config.incarnation, clusterKey: msg.clusterKey!, generation,
      },
    });
  };
  if (msg.to !== self || msg.toIncarnation !== d.config.incarnation || !msg.succession.includes(self)) {
    return log(fx, "debug", "propose-ignored", { from: msg.from, clusterKey: msg.clusterKey, reason: "not addressed to this incarnation" });
  }
  if (d.cluster?.key === msg.clusterKey) return answer("accept", msg.generation); // a resend
  // From whom we follow, or from a higher neighbour whose lead our last election had not seen yet.
  const sender = d.peers.get(msg.from);
  const fromPrincipal = msg.from === d.principal ||
    (compareNodeIds(msg.from, d.principal) > 0 && sender !== undefined && sender.heard.has(self));
  if (!fromPrincipal) {
    return log(fx, "debug", "propose-ignored", { from: msg.from, clusterKey: msg.clusterKey, reason: "not our principal", principal: d.principal });
  }
  const own = d.cluster?.generation ?? 0;
  if (msg.generation <= own) return answer("reject", own);

  d.cluster = { key: msg.clusterKey!, succession: msg.succession, generation: msg.generation };
  if (d.principal !== msg.from) {
    // We stop leading: the next tick's election will agree once the sender's heartbeats arrive.
    log(fx, "info", "principal-changed", { principal: msg.from, previous: d.principal });
    d.principal = msg.from;
    d.lead = [];
    d.stableTicks = 0;
    d.proposal = null;
    d.reproposeWanted = false;
  }
  fx.push({ kind: "install", clusterKey: d.cluster.key, succession: d.cluster.succession, generation: d.cluster.generation });
  log(fx, "info", "installed", { clusterKey: d.cluster.key, generation: d.cluster.generation, principal: msg.from, succession: msg.succession });
  answer("accept", msg.generation);
}

function onAnswer(d: Draft, fx: Effects, msg: AnswerMessage): void {
  const p = d.proposal;
  if (p === null || msg.clusterKey !== p.key || p.incarnations.get(msg.from) !== msg.incarnation) return;
  if (msg.kind === "accept") {
    if (!p.acked.has(msg.from)) d.proposal = { ...p, acked: new Set(p.acked).add(msg.from) };
    return;
  }
  d.generationFloor = Math.max(d.generationFloor, msg.generation);
  d.reproposeWanted = true;
  log(fx, "debug", "propose-rejected", { from: msg.from, clusterKey: msg.clusterKey, generation: msg.generation });
}

// ── queries ─────────────────────────────────────────────────────────────────────────────────────

export interface MembershipView {
  readonly nodeId: NodeId;
  readonly role: "principal" | "follower";
  /** Whom this node follows now (itself when it leads). */
  readonly principal: NodeId;
  readonly clusterKey: string | null;
  readonly generation: number;
  /** The installed succession list (descending; [] before the first install). */
  readonly succession: readonly NodeId[];
  /** Peers heard within missedMax ticks, descending. */
  readonly peers: readonly NodeId[];
  /** What this node leads when principal. */
  readonly lead: readonly NodeId[];
  /**
   * The installed cluster is what the election wants and everyone has it: as principal, every
   * member (in its current incarnation) acknowledged; as follower, the principal leads exactly
   * the installed succession under the same key.
   */
  readonly stable: boolean;
  readonly counters: MembershipCounters;
}

export function view(state: MembershipState): MembershipView {
  const self = state.config.nodeId;
  const cluster = state.cluster;
  let stable = false;
  if (cluster !== null && state.principal === self) {
    const p = state.proposal;
    stable = p !== null && p.key === cluster.key && !state.reproposeWanted && sameIds(p.succession, state.lead) &&
      p.succession.every((m) => p.acked.has(m) && (m === self || state.peers.get(m)?.incarnation === p.incarnations.get(m)));
  } else if (cluster !== null) {
    const leader = state.peers.get(state.principal);
    stable = leader !== undefined && leader.principal === state.principal && leader.clusterKey === cluster.key &&
      sameIds(leader.lead, cluster.succession);
  }
  return {
    nodeId: self,
    role: state.principal === self ? "principal" : "follower",
    principal: state.principal,
    clusterKey: cluster?.key ?? null,
    generation: cluster?.generation ?? 0,
    succession: cluster?.succession ?? [],
    peers: sortNodeIdsDesc(state.peers.keys()),
    lead: state.lead,
    stable,
    counters: state.counters,
  };
}
