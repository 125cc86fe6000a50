/**
 * Policies: per-command knobs (timeouts, retries, write semantics), typed, with documented
 * defaults declared once as constants.
 *
 * Concept: a client holds one default policy per command kind (read, write, remove, operate);
 * a call may pass a partial override. `resolve*Policy(defaults, override)` merges and validates
 * once per call, naming the field, the value and the allowed range on failure (ParameterError),
 * and returns a frozen object the command builders trust.
 *
 * Defaults follow the official clients (C 7.4 / npm aerospike 6.7.1) where they have one, so an
 * application moving from `aerospike` behaves the same, with one deliberate difference:
 * `socketTimeoutMs` defaults to 0 ("same as total") instead of 30000, which gives the same wire
 * value (transaction_ttl = total = 1000 ms) and a simpler mental model.
 */
import { parameterError } from "./errors.js";

/** Whole-command deadline, across retries. 0 = no deadline (retries still bounded). */
export const TOTAL_TIMEOUT_MS_DEFAULT = 1000;
/** Per-attempt timeout; 0 = same as the total timeout. */
export const SOCKET_TIMEOUT_MS_DEFAULT = 0;
/** Reads are idempotent: retry twice (C/Node default). */
export const READ_MAX_RETRIES_DEFAULT = 2;
/** Writes may not be idempotent: never retry unless asked (C/Node default). */
export const WRITE_MAX_RETRIES_DEFAULT = 0;
export const SLEEP_BETWEEN_RETRIES_MS_DEFAULT = 0;
/** Bound on retries a caller may configure: a runaway loop must not be expressible. */
export const MAX_RETRIES_LIMIT = 100;
/** Timeouts above a day are mistakes (probably seconds given as ms twice). */
export const TIMEOUT_MS_LIMIT = 24 * 3600 * 1000;

/**
 * What a write does depending on whether the record exists (Java's RecordExistsAction names;
 * wire bits per §2 "Write exists policy → bits"):
 * - 'ignore' / 'update': create or update, merging bins (no bits) — the default,
 * - 'updateOnly': update, fail with RecordNotFoundError if missing (info3 UPDATE_ONLY 0x08),
 * - 'replace': create or replace all bins (info3 CREATE_OR_REPLACE 0x10),
 * - 'replaceOnly': replace all bins, fail if missing (info3 REPLACE_ONLY 0x20),
 * - 'createOnly': create, fail with RecordExistsError if present (info2 CREATE_ONLY 0x20).
 *
 * Note: the C/Node enum names differ: their UPDATE is our 'updateOnly', their REPLACE our
 * 'replaceOnly', their CREATE_OR_REPLACE our 'replace'.
 */
export type ExistsPolicy = "ignore" | "update" | "updateOnly" | "replace" | "replaceOnly" | "createOnly";
/** 'none': no check; 'eq': write only if the stored generation equals `generation`; 'gt': only if greater. */
export type GenerationPolicy = "none" | "eq" | "gt";
/** 'all': acknowledge after every replica applied the write; 'master': after the master did. */
export type CommitLevel = "all" | "master";
/** Which copy serves a read: 'master' only; 'sequence' master then replicas on retry; 'any' spread. */
export type ReplicaPolicy = "master" | "sequence" | "any";

export interface BasePolicy {
  /** @default 1000 (TOTAL_TIMEOUT_MS_DEFAULT). 0 = no deadline. */
  readonly totalTimeoutMs: number;
  /** @default 0 = same as totalTimeoutMs. */
  readonly socketTimeoutMs: number;
  /** @default 2 for reads, 0 for writes. */
  readonly maxRetries: number;
  /** @default 0 */
  readonly sleepBetweenRetriesMs: number;
}

export interface ReadPolicy extends BasePolicy {
  /** @default 'sequence' (as the C client): master first, the next replica on retry. */
  readonly replica: ReplicaPolicy;
  /**
   * Reset the record's TTL on read when this percent of it has elapsed: 0 = server default,
   * -1 = never reset, 1..100 = percent. @default 0
   */
  readonly readTouchTtlPercent: number;
}

export interface WritePolicy extends BasePolicy {
  /** @default 'ignore' */
  readonly exists: ExistsPolicy;
  /** @default 'none' */
  readonly generationPolicy: GenerationPolicy;
  /** Expected generation when generationPolicy is not 'none'; `meta.gen` of a call wins. */
  readonly generation?: number;
  /**
   * Seconds; -1 never expire, -2 keep the current TTL, 0 namespace default. `meta.ttl` of a call
   * wins. @default undefined (= 0, namespace default)
   */
  readonly ttl?: number;
  /** Send the user key so the server stores it (field KEY). @default false */
  readonly sendKey: boolean;
  /** @default 'all' */
  readonly commitLevel: CommitLevel;
  /** Leave a tombstone on delete (info2 DURABLE_DELETE). @default false */
  readonly durableDelete: boolean;
  /** Retries of a write go to the next replica only with 'sequence' (it proxies). @default 'sequence' */
  readonly replica: ReplicaPolicy;
}

export interface OperatePolicy extends WritePolicy {
  /** Ask one reply entry per op, in op order (info2 RESPOND_ALL_OPS). @default false */
  readonly respondAllOps: boolean;
  /** Used when every op is a read. @default 0 */
  readonly readTouchTtlPercent: number;
}

/** Removes use the write policy (exists is ignored by the command). */
export type RemovePolicy = WritePolicy;

export interface Policies {
  readonly read: ReadPolicy;
  readonly write: WritePolicy;
  readonly remove: RemovePolicy;
  readonly operate: OperatePolicy;
}

/** What a caller may pass: any subset of fields. */
export type PoliciesInput = { readonly [K in keyof Policies]?: Partial<Policies[K]> };

const BASE_READ: BasePolicy = {
  totalTimeoutMs: TOTAL_TIMEOUT_MS_DEFAULT,
  socketTimeoutMs: SOCKET_TIMEOUT_MS_DEFAULT,
  maxRetries: READ_MAX_RETRIES_DEFAULT,
  sleepBetweenRetriesMs: SLEEP_BETWEEN_RETRIES_MS_DEFAULT,
};
const BASE_WRITE: BasePolicy = { ...BASE_READ, maxRetries: WRITE_MAX_RETRIES_DEFAULT };

export function defaultReadPolicy(): ReadPolicy {
  return Object.freeze({ ...BASE_READ, replica: "sequence", readTouchTtlPercent: 0 });
}

export function defaultWritePolicy(): WritePolicy {
  return Object.freeze({
    ...BASE_WRITE,
    exists: "ignore",
    generationPolicy: "none",
    sendKey: false,
    commitLevel: "all",
    durableDelete: false,
    replica: "sequence",
  });
}

export function defaultOperatePolicy(): OperatePolicy {
  return Object.freeze({ ...defaultWritePolicy(), respondAllOps: false, readTouchTtlPercent: 0 });
}

export function defaultPolicies(): Policies {
  return Object.freeze({
    read: defaultReadPolicy(),
    write: defaultWritePolicy(),
    remove: defaultWritePolicy(),
    operate: defaultOperatePolicy(),
  });
}

/** Client-level defaults: the built-in ones overridden by the config's `policies`. */
export function resolvePolicies(input: PoliciesInput | undefined): Policies {
  const d = defaultPolicies();
  return Object.freeze({
    read: resolveReadPolicy(d.read, input?.read),
    write: resolveWritePolicy(d.write, input?.write),
    remove: resolveWritePolicy(d.remove, input?.remove),
    operate: resolveOperatePolicy(d.operate, input?.operate),
  });
}

export function resolveReadPolicy(base: ReadPolicy, override?: Partial<ReadPolicy>): ReadPolicy {
  if (override === undefined) return base;
  const p = { ...base, ...stripUndefined(override) };
  validateBase(p);
  oneOf("replica", p.replica, ["master", "sequence", "any"]);
  validateTouchPercent(p.readTouchTtlPercent);
  return Object.freeze(p);
}

export function resolveWritePolicy(base: WritePolicy, override?: Partial<WritePolicy>): WritePolicy {
  if (override === undefined) return base;
  const p = { ...base, ...stripUndefined(override) };
  validateWrite(p);
  return Object.freeze(p);
}

export function resolveOperatePolicy(base: OperatePolicy, override?: Partial<OperatePolicy>): OperatePolicy {
  if (override === undefined) return base;
  const p = { ...base, ...stripUndefined(override) };
  validateWrite(p);
  validateTouchPercent(p.readTouchTtlPercent);
  if (typeof p.respondAllOps !== "boolean") throw parameterError(`respondAllOps must be a boolean`);
  return Object.freeze(p);
}

/** The per-attempt timeout (C `as_command_server_timeout` rule); 0 = none. */
export function attemptTimeoutMs(p: BasePolicy): number {
  if (p.socketTimeoutMs > 0 && (p.totalTimeoutMs === 0 || p.socketTimeoutMs < p.totalTimeoutMs)) {
    return p.socketTimeoutMs;
  }
  return p.totalTimeoutMs;
}

/**
 * Record TTL in seconds → the u32 record_ttl of a write: -1 → 0xFFFFFFFF (never expire),
 * -2 → 0xFFFFFFFE (keep), 0 → namespace default, else the seconds.
 */
export function ttlToWire(ttl: number): number {
  if (!Number.isInteger(ttl) || ttl < -2 || ttl > 0xfffffffd) {
    throw parameterError(`ttl must be an integer in [-2, ${0xfffffffd}] seconds (-1 never expire, -2 keep, 0 default), got ${ttl}`);
  }
  return ttl >>> 0;
}

function validateWrite(p: WritePolicy): void {
  validateBase(p);
  oneOf("exists", p.exists, ["ignore", "update", "updateOnly", "replace", "replaceOnly", "createOnly"]);
  oneOf("generationPolicy", p.generationPolicy, ["none", "eq", "gt"]);
  oneOf("commitLevel", p.commitLevel, ["all", "master"]);
  oneOf("replica", p.replica, ["master", "sequence", "any"]);
  if (p.generation !== undefined) validateGeneration(p.generation);
  if (p.ttl !== undefined) ttlToWire(p.ttl);
  if (typeof p.sendKey !== "boolean") throw parameterError(`sendKey must be a boolean, got ${String(p.sendKey)}`);
  if (typeof p.durableDelete !== "boolean") {
    throw parameterError(`durableDelete must be a boolean, got ${String(p.durableDelete)}`);
  }
}

export function validateGeneration(gen: number): void {
  if (!Number.isInteger(gen) || gen < 0 || gen > 0xffffffff) {
    throw parameterError(`generation must be an integer in [0, ${0xffffffff}], got ${gen}`);
  }
}

function validateBase(p: BasePolicy): void {
  inRange("totalTimeoutMs", p.totalTimeoutMs, 0, TIMEOUT_MS_LIMIT);
  inRange("socketTimeoutMs", p.socketTimeoutMs, 0, TIMEOUT_MS_LIMIT);
  inRange("maxRetries", p.maxRetries, 0, MAX_RETRIES_LIMIT);
  inRange("sleepBetweenRetriesMs", p.sleepBetweenRetriesMs, 0, TIMEOUT_MS_LIMIT);
}

function validateTouchPercent(v: number): void {
  if (!(Number.isInteger(v) && (v === -1 || (v >= 0 && v <= 100)))) {
    throw parameterError(`readTouchTtlPercent must be -1, 0 or 1..100, got ${v}`);
  }
}

function inRange(field: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw parameterError(`policy field ${field} = ${v} must be an integer in range [${min}, ${max}]`);
  }
}

function oneOf(field: string, v: string, allowed: readonly string[]): void {
  if (!allowed.includes(v)) throw parameterError(`policy field ${field} = ${JSON.stringify(v)} must be one of ${allowed.join(", ")}`);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as { [k: string]: unknown })[k] = v;
  return out;
}
