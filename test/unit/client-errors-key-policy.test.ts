/**
 * Goal: errors are built in one place with stable name/code/inDoubt/cause; keys validate their
 * parts and compute Aerospike's digests; policies validate once and keep documented defaults.
 * Method: table tests over codes, the digest vectors of protocol reference §5, and invalid inputs.
 */
import { describe, expect, it } from "vitest";
import {
  ClientError, ConnectionError, GenerationError, Key, KvError, ParameterError, QueueFullError, RecordExistsError,
  RecordNotFoundError, RecordTooBigError, ServerError, TimeoutError, defaultPolicies, fromResultCode,
  resolveClientConfig, resolveReadPolicy, resolveWritePolicy,
} from "../../client/internal.js";

describe("fromResultCode", () => {
  it.each([
    [2, RecordNotFoundError],
    [3, GenerationError],
    [4, ParameterError],
    [-2, ParameterError],
    [5, RecordExistsError],
    [9, TimeoutError],
    [13, RecordTooBigError],
    [-10, ConnectionError],
    [-11, QueueFullError],
    [77, ServerError],
    [-99, ClientError],
  ] as const)("code %i → %o", (code, Class) => {
    const cause = new Error("low level");
    const err = fromResultCode(code, "msg", true, { cause });
    expect(err).toBeInstanceOf(Class);
    expect(err).toBeInstanceOf(KvError);
    expect(err.name).toBe(Class.name);
    expect(err.code).toBe(code);
    expect(err.inDoubt).toBe(true);
    expect(err.cause).toBe(cause);
    expect(err.message).toBe("msg");
  });

  it("inDoubt defaults to false; codeName is symbolic", () => {
    const err = fromResultCode(2, "x");
    expect(err.inDoubt).toBe(false);
    expect(err.codeName).toBe("NOT_FOUND");
  });
});

describe("Key", () => {
  it("digest vectors (§5) and lazy partition id", () => {
    expect(new Key("test", "set", 0).digest.toString("hex")).toBe("93d943aae37b017ad7e011b0c1d2e2143c2fb37d");
    expect(new Key("test", "set", -1).partitionId).toBe(290);
    expect(new Key("test", "set", -(2n ** 63n)).digest.toString("hex")).toBe("7185c2a47fb02c996daed26b4e01b83240aee9d4");
    expect(new Key("test", "set", "").partitionId).toBe(2344);
    expect(new Key("test", "set", Buffer.alloc(0)).partitionId).toBe(3634);
    expect(new Key("test", "demo", 2).partitionId).toBe(2734);
    expect(new Key("test", null, "k1").digest.toString("hex")).toBe("50149955959c2fef0a83613ae80c78bb9c96b269");
    expect(new Key("test", undefined, "k1").set).toBe("");
  });

  it("a digest-only key", () => {
    const d = new Key("test", "demo", "k1").digest;
    const k = new Key("test", "demo", undefined, d);
    expect(k.partitionId).toBe(1975);
    expect(k.key).toBeUndefined();
  });

  it.each([
    ["empty namespace", () => new Key("", "s", 1)],
    ["namespace of 32 bytes", () => new Key("n".repeat(32), "s", 1)],
    ["set of 64 bytes", () => new Key("test", "s".repeat(64), 1)],
    ["no key nor digest", () => new Key("test", "s", undefined)],
    ["short digest", () => new Key("test", "s", undefined, Buffer.alloc(19))],
    ["unsafe integer", () => new Key("test", "s", 2 ** 53)],
    ["float", () => new Key("test", "s", 1.5)],
    ["bigint over 64 bits", () => new Key("test", "s", 2n ** 63n)],
    ["object", () => new Key("test", "s", {} as never)],
  ])("rejects %s with ParameterError (-2)", (_why, f) => {
    expect(f).toThrow(ParameterError);
    try {
      f();
    } catch (err) {
      expect((err as KvError).code).toBe(-2);
    }
  });

  it("accepts limits exactly", () => {
    expect(new Key("n".repeat(31), "s".repeat(63), 1).ns).toHaveLength(31);
  });
});

describe("policies", () => {
  it("documented defaults", () => {
    const d = defaultPolicies();
    expect(d.read).toMatchObject({ totalTimeoutMs: 1000, socketTimeoutMs: 0, maxRetries: 2, sleepBetweenRetriesMs: 0, replica: "sequence" });
    expect(d.write).toMatchObject({ totalTimeoutMs: 1000, maxRetries: 0, exists: "ignore", generationPolicy: "none", sendKey: false, commitLevel: "all", durableDelete: false });
    expect(d.operate).toMatchObject({ maxRetries: 0, respondAllOps: false });
    expect(Object.isFrozen(d.read)).toBe(true);
  });

  it("overrides merge and validate, naming the field", () => {
    const r = resolveReadPolicy(defaultPolicies().read, { maxRetries: 5, replica: undefined });
    expect(r.maxRetries).toBe(5);
    expect(r.replica).toBe("sequence");
    expect(() => resolveReadPolicy(r, { totalTimeoutMs: -1 })).toThrow(/totalTimeoutMs = -1/);
    expect(() => resolveReadPolicy(r, { replica: "nearest" as never })).toThrow(/replica/);
    expect(() => resolveReadPolicy(r, { readTouchTtlPercent: 101 })).toThrow(ParameterError);
    expect(() => resolveWritePolicy(defaultPolicies().write, { exists: "upsert" as never })).toThrow(/exists/);
    expect(() => resolveWritePolicy(defaultPolicies().write, { maxRetries: 1000 })).toThrow(/maxRetries/);
  });

  it("client config validation", () => {
    const c = resolveClientConfig({ hosts: "127.0.0.1:3000", policies: { write: { maxRetries: 1 } } });
    expect(c.seeds).toEqual([{ host: "127.0.0.1", port: 3000 }]);
    expect(c.tendIntervalMs).toBe(1000);
    expect(c.maxConnsPerNode).toBe(8);
    expect(c.policies.write.maxRetries).toBe(1);
    expect(() => resolveClientConfig({ hosts: "a", maxConnsPerNode: 0 })).toThrow(/maxConnsPerNode = 0/);
    expect(() => resolveClientConfig({ hosts: "" })).toThrow(ParameterError);
  });
});
