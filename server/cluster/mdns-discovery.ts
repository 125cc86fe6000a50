/**
 * Multicast discovery: find candidate peers of this cluster on the local link with multicast DNS
 * (RFC 6762/6763 records, sent and parsed by the `multicast-dns` package).
 *
 * Every node advertises one service instance of type `_shoal._tcp.local`:
 *
 *   _shoal._tcp.local          PTR  <nodeId>._shoal._tcp.local
 *   <nodeId>._shoal._tcp.local SRV  0 0 <heartbeatPort> <nodeId>.shoal.local
 *   <nodeId>._shoal._tcp.local TXT  "cluster=<clusterName>" "node=<nodeId>"
 *   <nodeId>.shoal.local       A    <advertised IPv4>
 *
 * It sends these unsolicited every `intervalMs`, queries for the PTR every `intervalMs`, and
 * answers queries for the service. Responses whose TXT names another cluster, and its own
 * records (looped back by the kernel), are dropped.
 *
 * Query traffic stays small with known-answer suppression (RFC 6762 §7.1): a query lists the PTR
 * records of the instances its sender heard in the last two periods, its own included, and a node
 * does not answer a query that already knows it. So in a settled cluster nobody answers (each
 * period is N announcements + N queries), our own looped-back query is not answered, and a
 * newcomer, which knows nobody, is answered at once by everyone. Answers are further spaced by
 * `answerGapMs`: a query inside the gap gets one coalesced answer at its end, never none.
 *
 * This only proposes candidates: membership is decided by heartbeats, so a peer is reported
 * again on every period in which it is heard (at most once per period per nodeId and address),
 * and there is no "peer gone" event. The caller tolerates repeats.
 *
 * Shape (STYLE §1): the packet building and parsing are pure exported functions
 * (`buildAnnouncement`, `buildQuery`, `isServiceQuery`, `knowsInstance`, `parseResponse`);
 * `MdnsDiscovery` is the shell that owns the UDP socket and its timers (the period, one
 * pending answer). (The records could be a module of their own; they stay here while they
 * have no other user.)
 *
 * Bounds: packets over `MDNS_PACKET_BYTES_MAX` or with more than `MDNS_RECORDS_MAX` records are
 * ignored whole; at most `peersMax` peers are reported per period; answers to queries are
 * rate-limited; send errors are logged with exponential thinning. No packet handler throws:
 * malformed input is counted and dropped, and an `onPeer` that throws is logged.
 *
 * Socket handling, and why it does not use the package's defaults:
 * - We create the UDP socket and pass `multicast: false`, then join the group ourselves. The
 *   package otherwise starts a 5 s `setInterval` of its own that is not unref'd (it would keep
 *   a process alive) and would bind to `interface`.
 * - With `interface` set, the socket still binds 0.0.0.0: bound to a unicast address it never
 *   receives multicast (measured in the netns test bed, see shared/tools/TESTBED.md). The
 *   interface is used for IP_ADD_MEMBERSHIP and IP_MULTICAST_IF, which also makes sending work
 *   without a 224.0.0.0/4 route.
 * - Without `interface`, the group is joined on every IPv4 interface (re-tried each period, so
 *   an interface that comes up later is joined), and sends follow the routing table: a host
 *   with neither a default nor a multicast route then fails every send with ENETUNREACH.
 * - Multicast loopback stays on, so several nodes on one host (and tests) hear each other.
 */
import assert from "node:assert";
import dgram from "node:dgram";
import net from "node:net";
import os from "node:os";
import makeMdns from "multicast-dns";
import type { Answer, Question } from "dns-packet";

/** The DNS-SD service type every node advertises. */
export const MDNS_SERVICE = "_shoal._tcp.local";
/** The domain of the per-node host names in SRV targets. */
export const MDNS_HOST_DOMAIN = "shoal.local";
export const MDNS_GROUP = "224.0.0.251";
export const MDNS_PORT = 5353;
/** RFC 6762 §17: a multicast DNS packet, headers included, is at most 9000 bytes. */
export const MDNS_PACKET_BYTES_MAX = 9000;
/** Answers plus additionals looked at; a packet with more is ignored (ours has 4). */
export const MDNS_RECORDS_MAX = 64;
/** TTL of our records (RFC 6762 §10 recommends 120 s for records naming hosts). */
export const MDNS_TTL_SECONDS = 120;
/** @default 1000 */
export const DEFAULT_MDNS_INTERVAL_MS = 1000;
/** @default 1024 */
export const DEFAULT_MDNS_PEERS_MAX = 1024;
/** Bounds of `intervalMs`: faster floods the link, slower makes discovery sluggish. */
export const MDNS_INTERVAL_MS_MIN = 50;
export const MDNS_INTERVAL_MS_MAX = 60_000;
/** Interfaces joined when no interface is configured. */
const INTERFACES_MAX = 64;
/** How long `close()` waits for the goodbye packet to leave before closing the socket. */
const GOODBYE_WAIT_MS = 100;

/** Known answers listed in one query (RFC 6762 §7.2 would split more over several packets). */
export const MDNS_KNOWN_ANSWERS_MAX = 32;

/** RFC 1035: a label is 1..63 octets; the node id becomes the instance and host label. */
const LABEL_RE = /^[A-Za-z0-9_-]{1,63}$/;
/** RFC 6763 §6.1: one TXT string is at most 255 octets. */
const TXT_STRING_BYTES_MAX = 255;
const TXT_CLUSTER = "cluster";
const TXT_NODE = "node";

assert(MDNS_INTERVAL_MS_MIN <= DEFAULT_MDNS_INTERVAL_MS && DEFAULT_MDNS_INTERVAL_MS <= MDNS_INTERVAL_MS_MAX);
assert(MDNS_TTL_SECONDS * 1000 > MDNS_INTERVAL_MS_MAX, "records must outlive the announcement period");

/** A candidate peer: where its heartbeat listener is. */
export interface MdnsPeer {
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
}

/** What a node advertises. */
export interface MdnsAdvertisement {
  readonly clusterName: string;
  readonly nodeId: string;
  /** The advertised IPv4 address (the A record). */
  readonly host: string;
  /** The heartbeat port (the SRV record). */
  readonly port: number;
  /** 0 = goodbye (RFC 6762 §10.1). @default MDNS_TTL_SECONDS */
  readonly ttlSeconds?: number;
}

/** The logger narrowed to what this module uses (a pino logger fits). */
export interface MdnsLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface MdnsDiscoveryOptions {
  readonly clusterName: string;
  readonly nodeId: string;
  /** Advertised IPv4 address: not a wildcard. */
  readonly host: string;
  readonly heartbeatPort: number;
  /** Period of announcements and queries. @default 1000 */
  readonly intervalMs?: number;
  /**
   * IPv4 address of the interface to join the group on and send from (IP_MULTICAST_IF).
   * @default every IPv4 interface, sends routed by the kernel
   */
  readonly interface?: string;
  readonly log: MdnsLogger;
  /** UDP port; tests use another one to stay apart from real responders. @default 5353 */
  readonly mdnsPort?: number;
  /** Peers reported per period; more are dropped (and counted). @default 1024 */
  readonly peersMax?: number;
}

/** Counters, for tests and the admin page. */
export interface MdnsStats {
  announcementsSent: number;
  queriesSent: number;
  answersSent: number;
  peersReported: number;
  packetsIgnored: number;
  peersDropped: number;
  sendErrors: number;
}

export type MdnsDiscoveryState = "new" | "starting" | "running" | "closed";

export function instanceName(nodeId: string): string {
  return `${nodeId}.${MDNS_SERVICE}`;
}

export function hostName(nodeId: string): string {
  return `${nodeId}.${MDNS_HOST_DOMAIN}`;
}

/** The four records of one node; `ttlSeconds: 0` makes a goodbye. */
export function buildAnnouncement(ad: MdnsAdvertisement): { answers: Answer[] } {
  assertAdvertisement(ad);
  const ttl = ad.ttlSeconds ?? MDNS_TTL_SECONDS;
  const instance = instanceName(ad.nodeId);
  const target = hostName(ad.nodeId);
  return {
    answers: [
      { name: MDNS_SERVICE, type: "PTR", ttl, data: instance },
      { name: instance, type: "SRV", ttl, data: { port: ad.port, target, priority: 0, weight: 0 } },
      // dns-packet encodes a missing TTL as 0 (a goodbye): every record sets it.
      { name: instance, type: "TXT", ttl, data: [`${TXT_CLUSTER}=${ad.clusterName}`, `${TXT_NODE}=${ad.nodeId}`] },
      { name: target, type: "A", ttl, data: ad.host },
    ],
  };
}

/**
 * The PTR query, listing as known answers the instances of `knownNodeIds` (the sender itself
 * and the peers it heard lately; at most `MDNS_KNOWN_ANSWERS_MAX`, the first ones win).
 */
export function buildQuery(knownNodeIds: readonly string[] = []): { questions: Question[]; answers: Answer[] } {
  const answers: Answer[] = knownNodeIds
    .filter((id) => LABEL_RE.test(id))
    .slice(0, MDNS_KNOWN_ANSWERS_MAX)
    .map((id) => ({ name: MDNS_SERVICE, type: "PTR", ttl: MDNS_TTL_SECONDS, data: instanceName(id) }));
  return { questions: [{ name: MDNS_SERVICE, type: "PTR" }], answers };
}

/**
 * Does a received query list our PTR as a known answer, with at least half its TTL left
 * (RFC 6762 §7.1)? Then we must not answer it. Never throws.
 */
export function knowsInstance(packet: unknown, nodeId: string): boolean {
  const answers = isObject(packet) ? packet["answers"] : undefined;
  if (!Array.isArray(answers) || answers.length > MDNS_RECORDS_MAX) return false;
  const instance = instanceName(nodeId);
  return answers.some(
    (r: unknown) =>
      isObject(r) && r["type"] === "PTR" && typeof r["name"] === "string" && sameName(r["name"], MDNS_SERVICE) &&
      typeof r["data"] === "string" && sameName(r["data"], instance) &&
      typeof r["ttl"] === "number" && r["ttl"] >= MDNS_TTL_SECONDS / 2,
  );
}

/** Does a received query ask for our service, instance or host name? Never throws. */
export function isServiceQuery(packet: unknown, nodeId: string): boolean {
  const questions = isObject(packet) ? packet["questions"] : undefined;
  if (!Array.isArray(questions) || questions.length > MDNS_RECORDS_MAX) return false;
  return questions.some((q: unknown) => {
    if (!isObject(q) || typeof q["name"] !== "string") return false;
    const type = q["type"];
    if (sameName(q["name"], MDNS_SERVICE)) return type === "PTR" || type === "ANY";
    return sameName(q["name"], instanceName(nodeId)) || sameName(q["name"], hostName(nodeId));
  });
}

/**
 * The peers of `clusterName` that a received response advertises (at most one per node id, in
 * packet order). Goodbyes (PTR TTL 0), other clusters, incomplete instances and malformed
 * records are skipped; a packet with more than `MDNS_RECORDS_MAX` records yields nothing.
 * Takes `unknown` because it is network input; never throws.
 */
export function parseResponse(packet: unknown, clusterName: string): MdnsPeer[] {
  if (!isObject(packet)) return [];
  const records = collectRecords(packet);
  const peers: MdnsPeer[] = [];
  for (const ptr of records) {
    if (ptr.type !== "PTR" || !sameName(ptr.name, MDNS_SERVICE) || ptr.ttl === 0) continue;
    const peer = parseInstance(records, ptr.data, clusterName);
    if (peer !== undefined && !peers.some((p) => p.nodeId === peer.nodeId)) peers.push(peer);
  }
  return peers;
}

interface RecordView {
  readonly name: string;
  readonly type: string;
  readonly ttl: number | undefined;
  readonly data: unknown;
}

function collectRecords(packet: Record<string, unknown>): RecordView[] {
  const lists = [packet["answers"], packet["additionals"]].filter(Array.isArray) as unknown[][];
  if (lists.reduce((sum, list) => sum + list.length, 0) > MDNS_RECORDS_MAX) return [];
  const records: RecordView[] = [];
  for (const r of lists.flat()) {
    if (!isObject(r) || typeof r["name"] !== "string" || typeof r["type"] !== "string") continue;
    const ttl = typeof r["ttl"] === "number" ? r["ttl"] : undefined;
    records.push({ name: r["name"], type: r["type"], ttl, data: r["data"] });
  }
  return records;
}

function parseInstance(records: readonly RecordView[], instance: unknown, clusterName: string): MdnsPeer | undefined {
  if (typeof instance !== "string") return undefined;
  const txt = records.find((r) => r.type === "TXT" && sameName(r.name, instance));
  const fields = txt === undefined ? undefined : parseTxt(txt.data);
  if (fields === undefined || fields.get(TXT_CLUSTER) !== clusterName) return undefined;
  const nodeId = fields.get(TXT_NODE);
  // The node id must also be the instance label: a record set cannot speak for another node.
  if (nodeId === undefined || !LABEL_RE.test(nodeId) || !sameName(instance, instanceName(nodeId))) return undefined;
  const srv = records.find((r) => r.type === "SRV" && sameName(r.name, instance));
  if (srv === undefined || !isObject(srv.data)) return undefined;
  const port = srv.data["port"];
  const target = srv.data["target"];
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535 || typeof target !== "string") {
    return undefined;
  }
  const a = records.find((r) => r.type === "A" && sameName(r.name, target) && isUnicastIPv4(r.data));
  if (a === undefined) return undefined;
  return { nodeId, host: a.data as string, port: port as number };
}

/** TXT strings `key=value` into a map (first occurrence wins, RFC 6763 §6.4). */
function parseTxt(data: unknown): Map<string, string> | undefined {
  const parts = Array.isArray(data) ? data : [data];
  if (parts.length > MDNS_RECORDS_MAX) return undefined;
  const fields = new Map<string, string>();
  for (const part of parts) {
    const text = Buffer.isBuffer(part) ? part.toString("utf8") : typeof part === "string" ? part : undefined;
    if (text === undefined || text.length > TXT_STRING_BYTES_MAX) continue;
    const eq = text.indexOf("=");
    if (eq <= 0) continue;
    const key = text.slice(0, eq).toLowerCase();
    if (!fields.has(key)) fields.set(key, text.slice(eq + 1));
  }
  return fields;
}

/** DNS names compare case-insensitively, with or without the root dot. */
function sameName(a: string, b: string): boolean {
  return a.replace(/\.$/, "").toLowerCase() === b.replace(/\.$/, "").toLowerCase();
}

function isUnicastIPv4(value: unknown): value is string {
  return typeof value === "string" && net.isIPv4(value) && value !== "0.0.0.0" && !value.startsWith("255.");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function assertAdvertisement(ad: MdnsAdvertisement): void {
  assert(LABEL_RE.test(ad.nodeId), `nodeId '${ad.nodeId}' must be a DNS label: 1..63 of [A-Za-z0-9_-]`);
  assert(isUnicastIPv4(ad.host), `host '${ad.host}' must be the advertised IPv4 address, not a wildcard or name`);
  assert(Number.isInteger(ad.port) && ad.port >= 1 && ad.port <= 65535, `port ${ad.port} must be in 1..65535`);
  assert(ad.clusterName.length > 0, "clusterName must not be empty");
  assert(Buffer.byteLength(`${TXT_CLUSTER}=${ad.clusterName}`) <= TXT_STRING_BYTES_MAX, "clusterName too long for TXT");
  assert(ad.ttlSeconds === undefined || (Number.isInteger(ad.ttlSeconds) && ad.ttlSeconds >= 0));
}

/**
 * The shell: one socket, two timers. `start()` resolves once the socket is bound (rejects on a
 * bind error such as EADDRINUSE; resolves at once if `close()` comes first); `close()` sends a
 * goodbye if running and closes the socket. Both are idempotent; `start()` after `close()`
 * does nothing.
 */
export class MdnsDiscovery {
  private readonly advertisement: MdnsAdvertisement;
  private readonly intervalMs: number;
  private readonly answerGapMs: number;
  private readonly peersMax: number;
  private readonly mdnsPort: number;
  private readonly log: MdnsLogger;
  private mdns: makeMdns.MulticastDNS | undefined;
  private socket: dgram.Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private answerTimer: NodeJS.Timeout | undefined;
  private readonly joined = new Set<string>();
  /** nodeId → "host:port" reported in the current period (the per-period de-duplication). */
  private readonly reported = new Map<string, string>();
  /** Peers reported in the previous period. */
  private reportedBefore: string[] = [];
  /** Peers heard in the last two periods: our known answers (two, so timer jitter that moves
   *  one announcement across a period boundary does not make everyone answer). */
  private known: string[] = [];
  private lastAnswerAt = -Infinity;
  private startPromise: Promise<void> | undefined;
  /** Resolves a pending `start()` when `close()` comes before the socket is bound. */
  private abandonStart: (() => void) | undefined;
  private closePromise: Promise<void> | undefined;
  private currentState: MdnsDiscoveryState = "new";
  private readonly counters: MdnsStats = {
    announcementsSent: 0, queriesSent: 0, answersSent: 0, peersReported: 0,
    packetsIgnored: 0, peersDropped: 0, sendErrors: 0,
  };

  constructor(
    private readonly options: MdnsDiscoveryOptions,
    private readonly onPeer: (peer: MdnsPeer) => void,
  ) {
    this.advertisement = {
      clusterName: options.clusterName, nodeId: options.nodeId, host: options.host, port: options.heartbeatPort,
    };
    assertAdvertisement(this.advertisement);
    this.intervalMs = options.intervalMs ?? DEFAULT_MDNS_INTERVAL_MS;
    assert(
      Number.isInteger(this.intervalMs) && this.intervalMs >= MDNS_INTERVAL_MS_MIN && this.intervalMs <= MDNS_INTERVAL_MS_MAX,
      `intervalMs ${this.intervalMs} must be in [${MDNS_INTERVAL_MS_MIN}, ${MDNS_INTERVAL_MS_MAX}]`,
    );
    // Spacing of answers: a burst of queries (nodes starting together, or a cluster larger
    // than the known-answer list) costs at most one answer per gap, i.e. 20 per period.
    this.answerGapMs = Math.max(5, Math.floor(this.intervalMs / 20));
    this.peersMax = options.peersMax ?? DEFAULT_MDNS_PEERS_MAX;
    assert(Number.isInteger(this.peersMax) && this.peersMax >= 1, `peersMax ${this.peersMax} must be >= 1`);
    this.mdnsPort = options.mdnsPort ?? MDNS_PORT;
    assert(Number.isInteger(this.mdnsPort) && this.mdnsPort >= 1 && this.mdnsPort <= 65535);
    assert(options.interface === undefined || net.isIPv4(options.interface), "interface must be an IPv4 address");
    this.log = options.log;
  }

  get state(): MdnsDiscoveryState {
    return this.currentState;
  }

  stats(): Readonly<MdnsStats> {
    return { ...this.counters };
  }

  start(): Promise<void> {
    if (this.startPromise !== undefined) return this.startPromise;
    if (this.currentState === "closed") return (this.startPromise = Promise.resolve());
    this.setState("starting");
    this.startPromise = new Promise<void>((resolve, reject) => {
      const socket = dgram.createSocket({ type: "udp4", reuseAddr: true });
      const mdns = makeMdns({ socket, port: this.mdnsPort, bind: "0.0.0.0", multicast: false });
      this.socket = socket;
      this.mdns = mdns;
      let settled = false;
      this.abandonStart = () => {
        settled = true;
        resolve();
      };
      mdns.on("error", (err: Error) => {
        // Only bind errors (EADDRINUSE, EACCES) come here, often twice (socket and bind).
        if (settled) return this.log.debug({ err: err.message }, "mdns socket error");
        this.log.warn({ err, port: this.mdnsPort }, "mdns socket error");
        settled = true;
        reject(err);
        void this.close();
      });
      mdns.on("warning", (err: Error) => {
        // Undecodable packets and socket-level send errors: count, never throw.
        this.counters.packetsIgnored++;
        this.log.debug({ err: err.message }, "mdns warning");
      });
      mdns.on("response", (packet: unknown, rinfo: dgram.RemoteInfo) => this.onResponse(packet, rinfo));
      mdns.on("query", (packet: unknown, rinfo: dgram.RemoteInfo) => this.onQuery(packet, rinfo));
      mdns.on("ready", () => {
        if (settled) return;
        settled = true;
        this.abandonStart = undefined;
        this.onReady();
        resolve();
      });
    });
    return this.startPromise;
  }

  /** Sends a goodbye (best effort, bounded wait) and closes the socket. */
  close(): Promise<void> {
    if (this.closePromise !== undefined) return this.closePromise;
    const wasRunning = this.currentState === "running";
    this.setState("closed");
    this.abandonStart?.();
    this.abandonStart = undefined;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.answerTimer !== undefined) clearTimeout(this.answerTimer);
    this.timer = undefined;
    this.answerTimer = undefined;
    const mdns = this.mdns;
    this.closePromise = new Promise<void>((resolve) => {
      if (mdns === undefined) return resolve();
      const finish = (): void => mdns.destroy(() => resolve());
      if (!wasRunning) return finish();
      const fallback = setTimeout(finish, GOODBYE_WAIT_MS);
      fallback.unref();
      try {
        mdns.respond(buildAnnouncement({ ...this.advertisement, ttlSeconds: 0 }), () => {
          clearTimeout(fallback);
          finish();
        });
      } catch {
        clearTimeout(fallback);
        finish();
      }
    });
    return this.closePromise;
  }

  private setState(next: MdnsDiscoveryState): void {
    if (next === this.currentState) return;
    this.log.debug({ from: this.currentState, to: next }, "mdns discovery state");
    this.currentState = next;
  }

  private onReady(): void {
    const socket = this.socket;
    assert(socket !== undefined);
    try {
      socket.setMulticastTTL(255);
      socket.setMulticastLoopback(true);
      if (this.options.interface !== undefined) socket.setMulticastInterface(this.options.interface);
    } catch (err) {
      this.log.warn({ err, interface: this.options.interface }, "mdns: cannot set multicast options");
    }
    this.setState("running");
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
    this.tick();
  }

  private tick(): void {
    if (this.currentState !== "running") return;
    const last = [...this.reported.keys()];
    this.known = [...new Set([...last, ...this.reportedBefore])];
    this.reportedBefore = last;
    this.reported.clear();
    this.joinGroup();
    this.send("announcement");
    this.send("query");
  }

  /** Joins on the configured interface, or on every IPv4 interface not yet joined. */
  private joinGroup(): void {
    const socket = this.socket;
    assert(socket !== undefined);
    const wanted = this.options.interface !== undefined ? [this.options.interface] : ipv4InterfaceAddresses();
    for (const address of wanted) {
      if (this.joined.has(address) || this.joined.size >= INTERFACES_MAX) continue;
      try {
        socket.addMembership(MDNS_GROUP, address);
        this.joined.add(address);
        this.log.debug({ group: MDNS_GROUP, interface: address }, "mdns joined group");
      } catch (err) {
        // Retried next period: the interface may not be up yet.
        this.log.debug({ err: (err as Error).message, interface: address }, "mdns join failed");
      }
    }
  }

  private send(kind: "announcement" | "query" | "answer"): void {
    const mdns = this.mdns;
    if (mdns === undefined || this.currentState !== "running") return;
    const done = (err: Error | null): void => {
      if (err === null || this.currentState === "closed") return;
      this.counters.sendErrors++;
      // Log the 1st, 2nd, 4th, 8th... failure: a missing route fails every send.
      const n = this.counters.sendErrors;
      if ((n & (n - 1)) === 0) {
        this.log.warn({ err: (err as NodeJS.ErrnoException).code ?? err.message, kind, sendErrors: n }, "mdns send failed");
      }
    };
    try {
      if (kind === "query") {
        mdns.query(buildQuery([this.options.nodeId, ...this.known]), done);
        this.counters.queriesSent++;
      } else {
        mdns.respond(buildAnnouncement(this.advertisement), done);
        if (kind === "answer") this.counters.answersSent++;
        else this.counters.announcementsSent++;
        this.lastAnswerAt = performance.now();
      }
    } catch (err) {
      done(err as Error);
    }
  }

  private onQuery(packet: unknown, rinfo: dgram.RemoteInfo): void {
    try {
      if (rinfo.size > MDNS_PACKET_BYTES_MAX) {
        this.counters.packetsIgnored++;
        return;
      }
      if (!isServiceQuery(packet, this.options.nodeId) || knowsInstance(packet, this.options.nodeId)) return;
      if (this.answerTimer !== undefined) return; // the pending answer serves this query too
      const waitMs = this.lastAnswerAt + this.answerGapMs - performance.now();
      if (waitMs <= 0) return this.send("answer");
      this.answerTimer = setTimeout(() => {
        this.answerTimer = undefined;
        this.send("answer");
      }, Math.ceil(waitMs));
      this.answerTimer.unref();
    } catch (err) {
      this.counters.packetsIgnored++;
      this.log.debug({ err: (err as Error).message, from: rinfo.address }, "mdns query dropped");
    }
  }

  private onResponse(packet: unknown, rinfo: dgram.RemoteInfo): void {
    if (this.currentState !== "running") return;
    if (rinfo.size > MDNS_PACKET_BYTES_MAX) {
      this.counters.packetsIgnored++;
      return;
    }
    let peers: MdnsPeer[];
    try {
      peers = parseResponse(packet, this.options.clusterName);
    } catch (err) {
      this.counters.packetsIgnored++;
      this.log.debug({ err: (err as Error).message, from: rinfo.address }, "mdns response dropped");
      return;
    }
    for (const peer of peers) this.report(peer);
  }

  private report(peer: MdnsPeer): void {
    if (peer.nodeId === this.options.nodeId) return;
    const key = `${peer.host}:${peer.port}`;
    const last = this.reported.get(peer.nodeId);
    if (last === key) return;
    if (last === undefined && this.reported.size >= this.peersMax) {
      this.counters.peersDropped++;
      return;
    }
    this.reported.set(peer.nodeId, key);
    this.counters.peersReported++;
    try {
      this.onPeer(peer);
    } catch (err) {
      this.log.warn({ err, peer }, "mdns onPeer callback threw");
    }
  }
}

/** One IPv4 address per interface (a group can be joined once per interface). */
function ipv4InterfaceAddresses(): string[] {
  const addresses: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) {
    const ipv4 = list?.find((i) => i.family === "IPv4");
    if (ipv4 !== undefined) addresses.push(ipv4.address);
  }
  return addresses;
}
