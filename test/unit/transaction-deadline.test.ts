/**
 * Goal: a request whose transaction_ttl passed while it waited (for its key's lock, for the
 * ownership after a cluster change) is answered TIMEOUT without being run, and a proxied request
 * carries what is left of its deadline; requests with time left, or with no transaction_ttl,
 * run as before.
 * Method: handleMessage against a MemoryStore namespace, with the key's lock held by hand and a
 * fake routing/peer transport standing for the cluster.
 */
import { describe, expect, it } from "vitest";
import { putMessage, getMessage } from "../../client/command.js";
import { Key } from "../../client/key.js";
import { defaultReadPolicy, defaultWritePolicy } from "../../client/policy.js";
import { decodeMessage, encodeMessage } from "../../client/protocol/message.js";
import { ResultCode } from "../../client/protocol/result-code.js";
import { PROTO_HEADER_BYTES } from "../../client/protocol/constants.js";
import type { ClusterRouting } from "../../server/cluster/cluster-state.js";
import { KeyLocks } from "../../server/service/key-lock.js";
import type { Namespace } from "../../server/service/namespace.js";
import { handleProxy } from "../../server/service/replica.js";
import { ServiceStats } from "../../server/service/stats.js";
import { handleMessage, lockKey, ProxyPayload, TransactionContext } from "../../server/service/transaction.js";
import { MemoryStore } from "../../server/storage/memory-store.js";

const ns: Namespace = {
  name: "test", store: new MemoryStore(), replicationFactor: 1, storageKind: "memory", nsupPeriodMs: 0,
  tombstoneReclaimAgeMs: 60_000, defaultTtlSec: 0, recordBytesMax: 1024 * 1024,
};

function context(extra: Partial<TransactionContext> = {}): TransactionContext {
  return {
    namespaces: new Map([["test", ns]]), locks: new KeyLocks(), stats: new ServiceStats(Date.now()), now: Date.now,
    log: { warn: () => undefined }, ...extra,
  };
}

/** An AS_MSG body (no proto header) for a put or get of `key` with the given transaction_ttl. */
function body(kind: "put" | "get", key: Key, ttlMs: number): Buffer {
  const msg = kind === "put"
    ? putMessage(key, { a: 1 }, undefined, defaultWritePolicy())
    : getMessage(key, undefined, defaultReadPolicy());
  return encodeMessage({ ...msg, transactionTtl: ttlMs }).subarray(PROTO_HEADER_BYTES);
}

const resultOf = (reply: Buffer): number => decodeMessage(reply.subarray(PROTO_HEADER_BYTES)).resultCode;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Holds `key`'s lock for `ms`, as a write in flight would. */
function holdLock(ctx: TransactionContext, key: Key, ms: number): Promise<unknown> {
  return ctx.locks.run(lockKey("test", key.digest), () => sleep(ms));
}

describe("transaction_ttl: the server's deadline", () => {
  it.each(["put", "get"] as const)("a %s that waited past its deadline for the key's lock is answered TIMEOUT and not run", async (kind) => {
    const ctx = context();
    const key = new Key("test", "s", `late-${kind}`);
    const held = holdLock(ctx, key, 80);
    const reply = await handleMessage(body(kind, key, 20), ctx);
    await held;
    expect(resultOf(reply)).toBe(ResultCode.TIMEOUT);
    expect(ns.store.get(key.digest, Date.now())).toBeUndefined();
    expect(ctx.stats.expired).toBe(1);
  });

  it("a write with time left after the wait, or with no transaction_ttl, runs", async () => {
    const ctx = context();
    const a = new Key("test", "s", "in-time");
    const b = new Key("test", "s", "no-ttl");
    const heldA = holdLock(ctx, a, 20);
    const heldB = holdLock(ctx, b, 60);
    const [ra, rb] = await Promise.all([handleMessage(body("put", a, 1000), ctx), handleMessage(body("put", b, 0), ctx)]);
    await Promise.all([heldA, heldB]);
    expect([resultOf(ra), resultOf(rb)]).toEqual([ResultCode.OK, ResultCode.OK]);
    expect(ns.store.get(a.digest, Date.now())?.generation).toBe(1);
    expect(ns.store.get(b.digest, Date.now())?.generation).toBe(1);
    expect(ctx.stats.expired).toBe(0);
  });

  it("a request that outlived its deadline waiting for the ownership is not run", async () => {
    let routable = false;
    const routing: ClusterRouting = {
      selfId: "A",
      route: () => ({ master: "A", targets: ["A"] }) as unknown as ReturnType<ClusterRouting["route"]>,
      canRead: () => true,
      routable: () => routable,
      whenRoutable: async (_ns, timeoutMs) => {
        await sleep(timeoutMs + 10); // the ownership arrives only after the deadline
        routable = true;
        return true;
      },
      duplicates: () => [],
    };
    const ctx = context({ cluster: routing });
    const key = new Key("test", "s", "route-late");
    const reply = await handleMessage(body("put", key, 30), ctx);
    expect(resultOf(reply)).toBe(ResultCode.TIMEOUT);
    expect(ns.store.get(key.digest, Date.now())).toBeUndefined();
  });

  it("a proxy carries the time left and waits no longer than that; the receiving node keeps the deadline", async () => {
    const sent: { payload: ProxyPayload; timeoutMs: number | undefined }[] = [];
    const routing: ClusterRouting = {
      selfId: "B",
      route: () => ({ master: "A", targets: ["A"] }) as unknown as ReturnType<ClusterRouting["route"]>,
      canRead: () => false,
      routable: () => true,
      whenRoutable: async () => true,
      duplicates: () => [],
    };
    const ctx = context({
      cluster: routing,
      peers: {
        request: async (_peer, _type, payload, timeoutMs) => {
          sent.push({ payload: payload as ProxyPayload, timeoutMs });
          return handleProxy(payload, receiver);
        },
      },
    });
    const receiver = context();
    const key = new Key("test", "s", "proxied");
    const held = holdLock(receiver, key, 80);
    const reply = await handleMessage(body("put", key, 40), ctx);
    await held;
    expect(sent).toHaveLength(1);
    expect(sent[0]!.payload.t).toBeGreaterThan(0);
    expect(sent[0]!.payload.t).toBeLessThanOrEqual(40);
    expect(sent[0]!.timeoutMs).toBe(sent[0]!.payload.t);
    // The receiver waited for the lock past the deadline it was handed: not run there.
    expect(resultOf(reply)).toBe(ResultCode.TIMEOUT);
    expect(receiver.stats.expired).toBe(1);
    expect(ns.store.get(key.digest, Date.now())).toBeUndefined();
  });
});
