/**
 * Single-record transactions: an AS_MSG request in, an AS_MSG reply out.
 *
 * Flow: locate the namespace and digest → decide read / delete / write from info1/info2 → run
 * the pure record rules (server/core/record-rules) against the stored record → store the outcome
 * → encode the reply. Reads with no write in flight on their key answer synchronously (no promise
 * on the hot path); writes serialise per key (KeyLocks) and resolve after the store says the
 * change is durable, so an acknowledgement means the write survives a crash.
 *
 * Every failure is a reply with a result code; nothing a client sends can throw out of here.
 */
import {
  DIGEST_BYTES, FieldType, Info1, Info2, Info3, MSG_HEADER_BYTES, NAMESPACE_BYTES_MAX, OpType, PROTO_HEADER_BYTES,
  ProtoType, SET_NAME_BYTES_MAX,
} from "../../client/protocol/constants.js";
import { computeDigestFromParticle } from "../../client/protocol/digest.js";
import { KvError } from "../../client/protocol/errors.js";
import { writeProtoHeader } from "../../client/protocol/frame.js";
import { AsMessage, decodeMessage, emptyMessage, encodeMessage, findField } from "../../client/protocol/message.js";
import { partitionId } from "../../client/protocol/digest.js";
import { ResultCode } from "../../client/protocol/result-code.js";
import type { ClusterRouting } from "../cluster/cluster-state.js";
import {
  applyDelete, applyRead, applyWrite, citrusleafNow, nextGeneration, RecordCommand, RecordOutcome, ReplyBin, supersedes,
} from "../core/record-rules.js";
import { normaliseRecord } from "./replica.js";
import type { StoredKey, StoredRecord } from "../storage/record-store.js";
import { KeyLocks } from "./key-lock.js";
import type { Namespace } from "./namespace.js";
import type { ServiceStats } from "./stats.js";

export interface TransactionContext {
  readonly namespaces: ReadonlyMap<string, Namespace>;
  readonly locks: KeyLocks;
  readonly stats: ServiceStats;
  readonly now: () => number;
  readonly log: { warn(obj: object, msg: string): void };
  /** Absent on a node that is not clustered (tests): everything is local. */
  readonly cluster?: ClusterRouting;
  readonly peers?: PeerTransport;
  /** Asked before a replica write is stored: false = acknowledge without storing (see Rebalancer.noteReplicaData). */
  readonly onReplicaData?: (ns: string, pid: number) => boolean;
  /** A replica write to `target` failed after the write was stored here (see Rebalancer.noteReplicaFailed). */
  readonly onReplicaFailed?: (ns: string, pid: number, target: string) => void;
}

/** What transactions need of the fabric. */
export interface PeerTransport {
  request(peer: string, type: string, payload: unknown, timeoutMs?: number): Promise<unknown>;
}

/** A request is proxied at most this many times (maps can disagree briefly during a change). */
export const PROXY_HOPS_MAX = 2;
/** How long a client request waits for the ownership after a cluster change before UNAVAILABLE. */
export const ROUTE_WAIT_MS = 1000;
/** How long duplicate resolution waits for a member's version. */
const DUP_RES_TIMEOUT_MS = 1000;
/** Fabric request types. */
export const FabricRequest = { PROXY: "proxy", REPLICA_WRITE: "replica-write", DUP_RES: "dup-res" } as const;

/** Payload of a replica write: the whole record after the master's write (a delete: its tombstone). */
export interface ReplicaWrite {
  readonly ns: string;
  readonly d: Buffer;
  readonly r: StoredRecord;
}

/** A reply frame with no bins: errors, write acks, deletes. */
export function headerReply(resultCode: number, generation = 0, voidTime = 0, info3 = 0): Buffer {
  const buf = Buffer.alloc(PROTO_HEADER_BYTES + MSG_HEADER_BYTES);
  writeProtoHeader(buf, 0, ProtoType.MSG, MSG_HEADER_BYTES);
  buf[8] = MSG_HEADER_BYTES;
  buf[11] = info3;
  buf[13] = resultCode;
  buf.writeUInt32BE(generation >>> 0, 14);
  buf.writeUInt32BE(voidTime >>> 0, 18);
  return buf;
}

/** A reply frame carrying bins as READ ops (the shared codec writes the op layout). */
export function binsReply(generation: number, voidTime: number, bins: readonly ReplyBin[]): Buffer {
  return encodeMessage({
    ...emptyMessage(), generation, recordTtl: voidTime,
    ops: bins.map((b) => ({ op: OpType.READ, particleType: b.type, name: b.name, data: b.data })),
  });
}

interface Located {
  readonly ns: Namespace;
  readonly digest: Buffer;
  readonly pid: number;
  readonly lockKey: string;
  readonly cmd: RecordCommand;
}

/** Finds namespace, digest, set and key; a KvError names what is wrong. */
function locate(msg: AsMessage, ctx: TransactionContext): Located {
  const nsField = findField(msg, FieldType.NAMESPACE);
  if (!nsField || nsField.data.length === 0) throw new KvError(ResultCode.PARAMETER, "request has no namespace field");
  if (nsField.data.length > NAMESPACE_BYTES_MAX) throw new KvError(ResultCode.PARAMETER, "namespace name is too long");
  const nsName = nsField.data.toString("utf8");
  const ns = ctx.namespaces.get(nsName);
  if (!ns) throw new KvError(ResultCode.NAMESPACE_NOT_FOUND, `namespace '${nsName}' not found`);
  const setField = findField(msg, FieldType.SET);
  if (setField && setField.data.length > SET_NAME_BYTES_MAX) throw new KvError(ResultCode.PARAMETER, "set name is too long");
  const setName = setField ? setField.data.toString("utf8") : "";
  const keyField = findField(msg, FieldType.KEY);
  let userKey: StoredKey | undefined;
  if (keyField) {
    if (keyField.data.length === 0) throw new KvError(ResultCode.PARAMETER, "key field is empty");
    userKey = { type: keyField.data[0]!, data: Buffer.from(keyField.data.subarray(1)) };
  }
  const digestField = findField(msg, FieldType.DIGEST);
  let digest: Buffer;
  if (digestField) {
    if (digestField.data.length !== DIGEST_BYTES) throw new KvError(ResultCode.PARAMETER, `digest must be ${DIGEST_BYTES} bytes`);
    digest = digestField.data;
    if (userKey && !computeDigestFromParticle(setName, userKey).equals(digest)) {
      throw new KvError(ResultCode.KEY_MISMATCH, "the key sent does not hash to the digest sent");
    }
  } else if (userKey) {
    digest = computeDigestFromParticle(setName, userKey);
  } else {
    throw new KvError(ResultCode.PARAMETER, "request has neither a digest nor a key");
  }
  const cmd: RecordCommand = {
    info1: msg.info1, info2: msg.info2, info3: msg.info3, generation: msg.generation,
    recordTtl: msg.recordTtl, setName, userKey, ops: msg.ops,
  };
  return { ns, digest, pid: partitionId(digest), lockKey: lockKey(nsName, digest), cmd };
}

export function lockKey(ns: string, digest: Buffer): string {
  return ns + "\0" + digest.toString("latin1");
}

/**
 * Handles one AS_MSG body; returns the reply frame, or a promise of it for writes and proxies.
 * `hops` counts how often the request was proxied already. `deadline` (performance.now() ms) is
 * when the client stops waiting: the message's transaction_ttl from its arrival on the first
 * node, carried along by proxies.
 *
 * A request whose deadline passed while it waited (for the ownership after a cluster change, for
 * its key's lock) is answered TIMEOUT without being run, as Aerospike's server does: its client
 * has given up, most likely retried elsewhere, and running it would only hold the key's lock
 * longer in front of that retry (seen at a join: retries queued behind abandoned first attempts
 * until they timed out too).
 */
export function handleMessage(body: Buffer, ctx: TransactionContext, hops = 0, deadline?: number): Buffer | Promise<Buffer> {
  let located: Located;
  let until: number;
  try {
    const msg = decodeMessage(body);
    until = deadline ?? (msg.transactionTtl > 0 ? performance.now() + msg.transactionTtl : Infinity);
    if (msg.info1 & Info1.BATCH || !findField(msg, FieldType.DIGEST) && !findField(msg, FieldType.KEY)) {
      ctx.stats.recordError(ResultCode.UNSUPPORTED_FEATURE);
      // Batch and scan/query arrive as multi-record requests; answer with one LAST message.
      return headerReply(ResultCode.UNSUPPORTED_FEATURE, 0, 0, 0x01);
    }
    located = locate(msg, ctx);
  } catch (err) {
    return errorReply(err, ctx);
  }
  const { cmd } = located;
  const isWrite = (cmd.info2 & Info2.WRITE) !== 0;
  if (ctx.cluster) {
    if (!ctx.cluster.routable(located.ns)) {
      // A cluster change is being settled (the holdings exchange, a round trip): who holds what
      // is unknown, so nobody may act as master or serve a read on its own. Wait for it, bounded.
      const ns = located.ns;
      return ctx.cluster.whenRoutable(ns, Math.min(ROUTE_WAIT_MS, Math.max(0, until - performance.now()))).then((ok) => {
        if (performance.now() >= until) return expired(ctx);
        if (ok) return handleMessage(body, ctx, hops, until);
        ctx.stats.recordError(ResultCode.UNAVAILABLE);
        return headerReply(ResultCode.UNAVAILABLE);
      });
    }
    // Reads served here need no route (the common case); writes and proxied reads do.
    if (isWrite || !ctx.cluster.canRead(located.ns, located.pid)) {
      const master = ctx.cluster.route(located.ns, located.pid).master;
      if (!isWrite || master !== ctx.cluster.selfId) return proxy(body, master, hops, until, ctx);
    }
  }
  const dups = ctx.cluster?.duplicates(located.ns, located.pid) ?? [];
  if (dups.length > 0) {
    // The partition is merging: copies elsewhere may hold newer versions than this one. Resolve
    // the record first (under its lock), so a read sees the newest and a write builds on it.
    return ctx.locks.run(located.lockKey, async () => {
      if (performance.now() >= until) return expired(ctx);
      await resolveDuplicates(located, dups, ctx);
      return isWrite ? write(located, ctx) : read(located, ctx);
    }).catch((err) => errorReply(err, ctx));
  }
  if (!isWrite) {
    if (!ctx.locks.busy(located.lockKey)) return read(located, ctx);
    return ctx.locks.run(located.lockKey, () => unlessExpired(until, ctx, () => read(located, ctx)));
  }
  return ctx.locks.run(located.lockKey, () => unlessExpired(until, ctx, () => write(located, ctx))).catch((err) => errorReply(err, ctx));
}

/** Runs a request that waited, unless its deadline passed meanwhile (see handleMessage). */
function unlessExpired<T>(until: number, ctx: TransactionContext, run: () => T): T | Buffer {
  return performance.now() >= until ? expired(ctx) : run();
}

/** The reply to a request whose client stopped waiting before it could run (see handleMessage). */
function expired(ctx: TransactionContext): Buffer {
  ctx.stats.expired++;
  ctx.stats.recordError(ResultCode.TIMEOUT);
  return headerReply(ResultCode.TIMEOUT);
}

/**
 * Duplicate resolution (Aerospike's term): asks every member whose copy of the partition must
 * still merge for its version of the record and keeps the one that supersedes (generation, then
 * last-update time; a tombstone counts). The winner is stored here; the merge will bring the
 * same record later and change nothing. A member that does not answer fails the request
 * (retryable): acting without its version could build a write on a stale one, which the merge
 * would then overrule, losing an acknowledged write.
 */
async function resolveDuplicates(loc: Located, dups: readonly string[], ctx: TransactionContext): Promise<void> {
  if (!ctx.peers) return;
  const payload = { ns: loc.ns.name, d: loc.digest };
  const answers = await Promise.all(dups.map((n) => ctx.peers!.request(n, FabricRequest.DUP_RES, payload, DUP_RES_TIMEOUT_MS)));
  let best = loc.ns.store.get(loc.digest, 0);
  let won = false;
  for (const a of answers) {
    if (a === null || a === undefined) continue;
    const theirs = normaliseRecord(a);
    if (supersedes(theirs, best)) {
      best = theirs;
      won = true;
    }
  }
  ctx.stats.dupResolutions++;
  if (won && best) await loc.ns.store.put(loc.digest, best);
}

function read(loc: Located, ctx: TransactionContext): Buffer {
  ctx.stats.reads++;
  const existing = live(loc.ns.store.get(loc.digest, ctx.now()));
  const outcome = applyRead(existing, loc.cmd);
  if (outcome.kind === "error") {
    if (outcome.resultCode === ResultCode.NOT_FOUND) ctx.stats.readsNotFound++;
    else ctx.stats.recordError(outcome.resultCode);
    return headerReply(outcome.resultCode);
  }
  if (outcome.bins.length === 0) return headerReply(ResultCode.OK, outcome.generation, outcome.voidTime);
  return binsReply(outcome.generation, outcome.voidTime, outcome.bins);
}

async function write(loc: Located, ctx: TransactionContext): Promise<Buffer> {
  const { ns, digest, cmd } = loc;
  const now = ctx.now();
  const stored = ns.store.get(digest, now);
  const existing = live(stored);
  let outcome: RecordOutcome;
  if (cmd.info2 & Info2.DELETE) {
    ctx.stats.deletes++;
    outcome = applyDelete(existing, cmd);
  } else {
    if (cmd.info1 & Info1.READ) ctx.stats.operates++;
    else ctx.stats.writes++;
    outcome = applyWrite(existing, cmd, ns, now);
  }
  if (outcome.kind === "error") {
    if (outcome.resultCode !== ResultCode.NOT_FOUND) ctx.stats.recordError(outcome.resultCode);
    return headerReply(outcome.resultCode);
  }
  let record = outcome.record;
  let generation = outcome.generation;
  if (outcome.change === "put" && stored?.tombstone) {
    // Re-created over a tombstone: its generation continues past the tombstone's, so every copy
    // (and any migration) sees the new record supersede the delete.
    record = { ...record!, generation: nextGeneration(stored.generation), lastUpdateMs: Math.max(record!.lastUpdateMs, stored.lastUpdateMs + 1) };
    generation = record.generation;
  } else if (outcome.change === "delete") {
    record = tombstoneOf(existing!, now);
  }
  const local = record && outcome.change !== "none" ? ns.store.put(digest, record) : undefined;
  if (local) {
    const replicas = replicate(loc, record!, ctx);
    await local;
    // A copy that missed the write is repaired from this one (a resync), under any commit level.
    const replicated = replicas.then((failed) => {
      for (const t of failed) ctx.onReplicaFailed?.(ns.name, loc.pid, t);
      return failed.length === 0;
    });
    // Commit level "all" (the default): acknowledge once every replica applied the write. If
    // one could not, the write is not acknowledged: it stands here (in doubt for the client),
    // and a retry after the cluster change that follows reaches the new write targets.
    if (!(cmd.info3 & Info3.COMMIT_MASTER) && !(await replicated)) {
      ctx.stats.recordError(ResultCode.TIMEOUT);
      return headerReply(ResultCode.TIMEOUT);
    }
  }
  if (outcome.bins.length === 0) return headerReply(ResultCode.OK, generation, outcome.voidTime);
  return binsReply(generation, outcome.voidTime, outcome.bins);
}

/**
 * How long a tombstone is kept at most, seconds: the expiry sweeper removes it then. Normally the
 * tombstone reclaimer (server/cluster/tombstone-reclaimer.ts) removes it much sooner, once every
 * holder has it.
 */
export const TOMBSTONE_RETAIN_SEC = 24 * 3600;

/** The stored record as the rules see it: a tombstone is no record. */
function live(r: StoredRecord | undefined): StoredRecord | undefined {
  return r?.tombstone ? undefined : r;
}

/**
 * The tombstone a delete leaves. The reclaimer removes it once every holder of the partition has
 * it and no recent member is away; the expiry sweeper after TOMBSTONE_RETAIN_SEC in any case.
 */
export function tombstoneOf(deleted: StoredRecord, nowMs: number): StoredRecord {
  return {
    generation: nextGeneration(deleted.generation),
    lastUpdateMs: Math.max(nowMs, deleted.lastUpdateMs + 1),
    voidTime: citrusleafNow(nowMs) + TOMBSTONE_RETAIN_SEC,
    setName: deleted.setName,
    bins: [],
    tombstone: true,
  };
}

/**
 * Sends the record to every other node that must hold it; resolves when all answered, with the
 * targets that did not apply it (down, unreachable, timed out).
 */
async function replicate(loc: Located, record: StoredRecord, ctx: TransactionContext): Promise<string[]> {
  if (!ctx.cluster || !ctx.peers) return [];
  const self = ctx.cluster.selfId;
  const targets = ctx.cluster.route(loc.ns, loc.pid).targets.filter((t) => t !== self);
  if (targets.length === 0) return [];
  const payload: ReplicaWrite = { ns: loc.ns.name, d: loc.digest, r: record };
  const failed = await Promise.all(targets.map((t) => ctx.peers!.request(t, FabricRequest.REPLICA_WRITE, payload).then(() => null, (err) => {
    ctx.stats.replicaWriteFailures++;
    ctx.log.warn({ peer: t, err: (err as Error).message }, "replica write failed");
    return t;
  })));
  return failed.filter((t): t is string => t !== null);
}

/** What a proxied request carries: the message, hops so far, ms left until its deadline (absent: none). */
export interface ProxyPayload {
  readonly b: Buffer;
  readonly h: number;
  readonly t?: number;
}

/**
 * Forwards a request to the node that serves it and relays the answer; waits at most until the
 * request's deadline (the fabric's own timeout when it has none).
 */
function proxy(body: Buffer, to: string, hops: number, until: number, ctx: TransactionContext): Buffer | Promise<Buffer> {
  if (!ctx.peers || hops >= PROXY_HOPS_MAX || to === ctx.cluster?.selfId) {
    ctx.stats.recordError(ResultCode.UNAVAILABLE);
    return headerReply(ResultCode.UNAVAILABLE);
  }
  const left = until - performance.now();
  if (left <= 0) return expired(ctx);
  ctx.stats.proxies++;
  const t = Number.isFinite(left) ? Math.ceil(left) : undefined;
  const payload: ProxyPayload = t === undefined ? { b: body, h: hops + 1 } : { b: body, h: hops + 1, t };
  return ctx.peers.request(to, FabricRequest.PROXY, payload, t).then(
    (reply) => asBuffer(reply),
    (err) => {
      ctx.stats.proxyFailures++;
      return headerReply(err instanceof KvError && err.code > 0 && err.code < 256 ? err.code : ResultCode.TIMEOUT);
    },
  );
}

/** msgpackr may hand binary back as a Uint8Array. */
export function asBuffer(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw new KvError(ResultCode.SERVER_ERROR, "expected binary data from a peer");
}

function errorReply(err: unknown, ctx: TransactionContext): Buffer {
  if (err instanceof KvError && err.code > 0 && err.code < 256) {
    ctx.stats.recordError(err.code);
    return headerReply(err.code);
  }
  ctx.stats.recordError(ResultCode.SERVER_ERROR);
  ctx.log.warn({ err }, "transaction failed");
  return headerReply(ResultCode.SERVER_ERROR);
}
