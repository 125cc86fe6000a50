/**
 * Server configuration: one typed, deep-frozen `ServerConfig`, validated once at startup.
 *
 * Concept: every setting a node needs is a field of `ServerConfig`. The only way to get one is
 * `validateServerConfig(raw)`, which takes a partial, untyped object (a parsed config file merged
 * with flags and environment by cli-args.ts, or a test's literal), fills in the documented
 * defaults, checks every field, and returns a frozen value. Below `server/main.ts` nothing reads
 * `process.env` or `argv`: config is a constructor parameter.
 *
 *     raw (unknown) ──validateServerConfig──▶ ServerConfig (frozen)
 *       │  missing field      → DEFAULT_* constant
 *       │  bad/unknown field  → ConfigError { field: "namespaces.test.replicationFactor",
 *       │                                    value: 0, allowed: "an integer 1..255" }
 *
 * Invariants of a returned ServerConfig:
 * - every field is present, of its type and within `CONFIG_RANGES`; it is deep-frozen.
 * - `nodeId` is undefined or canonical: uppercase hex, no leading zeros, not zero (Aerospike
 *   prints node ids with %lX, so logs, info responses and this value compare as strings).
 * - non-zero ports are pairwise distinct (all four bind the same address).
 * - every namespace's `recordBytesMax + FRAME_HEADROOM_BYTES <= frameBytesMax`, so the largest
 *   allowed record always fits in one frame together with its message header and fields.
 * - `namespaces` has a null prototype: a namespace name taken off the wire ("constructor",
 *   "__proto__") can never resolve to an inherited property.
 * - idempotent: validating a ServerConfig again yields an equal ServerConfig, so a test may
 *   write `validateServerConfig({ ...localProfile(), dataDir })`.
 *
 * Why: one checked value at the edge means the rest of the server never re-validates or guesses,
 * and an operator's mistake is reported once, at startup, naming the field, what was given and
 * what is allowed (as memberlist's "Must be in range" and raft's Config.validate() do), instead
 * of surfacing later as a bind error or a mysteriously small cluster.
 */
import assert from "node:assert/strict";
import { isIP } from "node:net";
import { MIGRATIONS_LIMIT_MAX } from "./core/migration-plan.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const DAY_MS = 86_400_000;
/** Aerospike's max-ttl ceiling: ten 365-day years. */
const TEN_YEARS_SEC = 10 * 365 * 86_400;

// ─── Enumerations ────────────────────────────────────────────────────────────────────────────

export const LogLevel = {
  Trace: "trace",
  Debug: "debug",
  Info: "info",
  Warn: "warn",
  Error: "error",
  Silent: "silent",
} as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

export const StorageKind = { Lmdb: "lmdb", Memory: "memory" } as const;
export type StorageKind = (typeof StorageKind)[keyof typeof StorageKind];

// ─── Defaults (units last) ───────────────────────────────────────────────────────────────────

/** Client port (Aerospike wire protocol + info): Aerospike's own, so existing clients just work. */
export const DEFAULT_SERVICE_PORT = 3000;
/** Node-to-node RPC: replica writes, migrations, proxies. */
export const DEFAULT_FABRIC_PORT = 3001;
/** Mesh heartbeats; also the port a seed gets when written without one. */
export const DEFAULT_HEARTBEAT_PORT = 3002;
/** HTTP admin: /health, /metrics, /v1/cluster, dashboard. */
export const DEFAULT_HTTP_PORT = 3003;
/** Listen on every IPv4 interface, as a server in a container must. */
export const DEFAULT_ADDRESS = "0.0.0.0";
export const DEFAULT_DATA_DIR = "./data";
export const DEFAULT_CLUSTER_NAME = "shoal";
/** 150 ms × 10 missed = a dead peer is noticed in 1.5 s, like Aerospike's interval/timeout. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 150;
export const DEFAULT_HEARTBEAT_MISSED_MAX = 10;
/** The namespace every Aerospike tutorial and test suite uses. */
export const DEFAULT_NAMESPACE = "test";
/** Two copies: survives one node loss at half the cost of three. */
export const DEFAULT_REPLICATION_FACTOR = 2;
/** 0 = records never expire unless the client sets a TTL. */
export const DEFAULT_TTL_SEC = 0;
export const DEFAULT_STORAGE: StorageKind = StorageKind.Lmdb;
/** Aerospike's classic write-block-size: 1 MiB. */
export const DEFAULT_RECORD_BYTES_MAX = 1 * MiB;
/** Expired records are invisible at once; the sweep only reclaims space, so it can be lazy. */
export const DEFAULT_NSUP_PERIOD_MS = 10_000;
/** Age a tombstone must reach before a settled partition reclaims it (well above failure detection). */
export const DEFAULT_TOMBSTONE_RECLAIM_AGE_MS = 60_000;
export const DEFAULT_CONNECTIONS_MAX = 10_000;
/** Room for batch and scan chunks of several maximum-size records. */
export const DEFAULT_FRAME_BYTES_MAX = 8 * MiB;
/** Close client connections idle for a minute; 0 = never. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/**
 * Partition moves streaming out of one node at once. 4, not more: in the 1M-record join bench
 * 16 moved no faster (CPU-bound on both ends) and their start, all at once, cost an open-loop
 * load at 1000/s 119-737 failed commands against 0 with 4 (docs/architecture.md, Migrations).
 */
export const DEFAULT_MIGRATIONS_OUT_MAX = 4;
/** Partition moves streaming into one node at once, from all senders (4 senders at the default). */
export const DEFAULT_MIGRATIONS_IN_MAX = 16;
export const DEFAULT_LOG_LEVEL: LogLevel = LogLevel.Info;
/**
 * Bytes a frame needs beyond one record: protocol and message headers, namespace, set, user key,
 * digest and per-bin headers. Generous on purpose; it only constrains frameBytesMax.
 */
export const FRAME_HEADROOM_BYTES = 64 * KiB;

// ─── Ranges ──────────────────────────────────────────────────────────────────────────────────

/** An inclusive integer range; `zero` (when set) gives 0 a special meaning even below `min`. */
export interface IntRange {
  readonly min: number;
  readonly max: number;
  readonly zero?: string;
}

/** The allowed range of every integer setting. */
export const CONFIG_RANGES = {
  port: { min: 0, max: 65_535, zero: "pick a free port" },
  seedPort: { min: 1, max: 65_535 },
  heartbeatIntervalMs: { min: 5, max: 60_000 },
  // One missed heartbeat is one lost UDP/TCP hiccup; declaring a peer dead on it would flap.
  heartbeatMissedMax: { min: 2, max: 1_000 },
  replicationFactor: { min: 1, max: 255 },
  defaultTtlSec: { min: 0, max: TEN_YEARS_SEC, zero: "never expire" },
  recordBytesMax: { min: 1 * KiB, max: 128 * MiB },
  nsupPeriodMs: { min: 10, max: DAY_MS, zero: "never sweep" },
  tombstoneReclaimAgeMs: { min: 100, max: DAY_MS },
  connectionsMax: { min: 1, max: 1_000_000 },
  frameBytesMax: { min: 128 * KiB, max: 256 * MiB },
  idleTimeoutMs: { min: 10, max: DAY_MS, zero: "never time out" },
  migrationsMax: { min: 1, max: MIGRATIONS_LIMIT_MAX },
} as const satisfies Record<string, IntRange>;

export const NODE_ID_HEX_DIGITS_MAX = 16;
export const CLUSTER_NAME_LENGTH_MAX = 64;
export const NAMESPACE_NAME_BYTES_MAX = 31; // Aerospike's limit, so its clients accept the name
export const NAMESPACES_MAX = 32;
export const SEEDS_MAX = 256;

// Relations between constants, checked once at load (TigerStyle).
assert.ok(
  CONFIG_RANGES.recordBytesMax.max + FRAME_HEADROOM_BYTES <= CONFIG_RANGES.frameBytesMax.max,
  "the largest record must fit the largest frame",
);
assert.ok(
  CONFIG_RANGES.recordBytesMax.min + FRAME_HEADROOM_BYTES <= CONFIG_RANGES.frameBytesMax.min,
  "the smallest frame must fit the smallest record",
);
assert.ok(DEFAULT_RECORD_BYTES_MAX + FRAME_HEADROOM_BYTES <= DEFAULT_FRAME_BYTES_MAX);

// ─── Types ───────────────────────────────────────────────────────────────────────────────────

/** One mesh seed: a peer's heartbeat endpoint. `host` is a name, IPv4 or bare IPv6 address. */
export interface SeedAddress {
  readonly host: string;
  readonly port: number;
}

/** Settings of one namespace. */
export interface NamespaceConfig {
  /** Copies of each partition (master + replicas), capped by the cluster size. 1..255. @default 2 */
  readonly replicationFactor: number;
  /** TTL of records written without one; 0 = never expire; at most 10 years. @default 0 */
  readonly defaultTtlSec: number;
  /** Where records live: LMDB on disk under dataDir, or process memory. @default "lmdb" */
  readonly storage: StorageKind;
  /** Largest stored record, bytes; 1 KiB..128 MiB, and + 64 KiB ≤ frameBytesMax. @default 1048576 */
  readonly recordBytesMax: number;
  /** Period of the expired-record sweep (namespace supervisor), ms; 0 = never sweep. @default 10000 */
  readonly nsupPeriodMs: number;
  /**
   * A tombstone is reclaimed once it is this old and every holder has it (the partition is
   * settled and no recent member is away); ms, 100..1 day. Tombstones are dropped after 24 h in
   * any case. @default 60000
   */
  readonly tombstoneReclaimAgeMs: number;
}

/** Everything one node is configured with. Build it with `validateServerConfig`. */
export interface ServerConfig {
  /**
   * This node's id: hex, 1..16 digits, not zero; stored uppercase without leading zeros.
   * @default undefined (the node picks one and keeps it in dataDir)
   */
  readonly nodeId: string | undefined;
  /** Address all four listeners bind. @default "0.0.0.0" */
  readonly address: string;
  /** Address advertised to clients and peers; must not be a wildcard. @default derived at startup */
  readonly accessAddress?: string;
  /** Client (Aerospike wire) port; 0 = pick a free port. @default 3000 */
  readonly servicePort: number;
  /** Node-to-node RPC port; 0 = pick a free port. @default 3001 */
  readonly fabricPort: number;
  /** Mesh heartbeat port; 0 = pick a free port. @default 3002 */
  readonly heartbeatPort: number;
  /** HTTP admin port; 0 = pick a free port. @default 3003 */
  readonly httpPort: number;
  /** Directory for LMDB data and the persisted node id. @default "./data" */
  readonly dataDir: string;
  /** Nodes only join peers with the same name; 1..64 of [A-Za-z0-9_.-]. @default "shoal" */
  readonly clusterName: string;
  /** Mesh seeds (heartbeat endpoints), names re-resolved on every attempt. @default [] */
  readonly seeds: readonly SeedAddress[];
  /** Discover peers by multicast DNS (_shoal._tcp.local). @default false */
  readonly multicast: boolean;
  /** Heartbeat period, ms; 5..60000. @default 150 */
  readonly heartbeatIntervalMs: number;
  /** A peer is lost after this many missed heartbeats; 2..1000. @default 10 */
  readonly heartbeatMissedMax: number;
  /** Namespaces served, by name (1..31 of [A-Za-z0-9_-]); 1..32 of them. @default { test: defaults } */
  readonly namespaces: Readonly<Record<string, NamespaceConfig>>;
  /** Open client connections allowed at once; 1..1000000. @default 10000 */
  readonly connectionsMax: number;
  /** Largest protocol frame accepted or sent, bytes; 128 KiB..256 MiB. @default 8388608 */
  readonly frameBytesMax: number;
  /** Close a client connection idle this long, ms; 0 = never. @default 60000 */
  readonly idleTimeoutMs: number;
  /** Partition moves streaming out of this node at once (and into any one peer); 1..1024. @default 16 */
  readonly migrationsOutMax: number;
  /** Partition moves streaming into this node at once, all senders together; 1..1024. @default 32 */
  readonly migrationsInMax: number;
  /** Least severe level logged. @default "info" */
  readonly logLevel: LogLevel;
}

// ─── Errors ──────────────────────────────────────────────────────────────────────────────────

export interface ConfigErrorOptions extends ErrorOptions {
  /** Where the value came from: "--service-port", "SHOAL_SEEDS", "config file ./shoal.yaml". */
  readonly source?: string;
  /** First words of the message. @default "invalid" */
  readonly problem?: string;
}

/** A setting that cannot be used. The message says which, what was given, and what is allowed. */
export class ConfigError extends Error {
  readonly code = "ERR_SHOAL_CONFIG";
  readonly source: string | undefined;
  readonly problem: string;

  constructor(
    /** Dotted path ("namespaces.test.replicationFactor", "seeds[1]") or a flag ("--foo"). */
    readonly field: string,
    /** The value given. */
    readonly value: unknown,
    /** The allowed values or range, in words. */
    readonly allowed: string,
    options: ConfigErrorOptions = {},
  ) {
    const problem = options.problem ?? "invalid";
    const from = options.source === undefined ? "" : ` (from ${options.source})`;
    super(`${problem} '${field}'${from}: got ${formatValue(value)}; allowed: ${allowed}`, options);
    this.name = new.target.name;
    this.source = options.source;
    this.problem = problem;
  }
}

function formatValue(value: unknown): string {
  let text: string;
  if (typeof value === "number" || typeof value === "boolean" || value === undefined) {
    text = String(value);
  } else if (typeof value === "bigint") {
    text = `${value}n`;
  } else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

// ─── Field checks (pure leaves) ──────────────────────────────────────────────────────────────

type RawObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is RawObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Own property only, so "constructor" or "__proto__" in input never reads Object.prototype. */
function own(obj: RawObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function rejectUnknownKeys(obj: RawObject, known: readonly string[], prefix: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      throw new ConfigError(prefix + key, obj[key], known.join(", "), {
        problem: "unknown field",
      });
    }
  }
}

export function describeRange(range: IntRange): string {
  const span = `an integer ${range.min}..${range.max}`;
  if (range.zero === undefined) return span;
  return range.min === 0 ? `${span} (0 = ${range.zero})` : `0 (${range.zero}) or ${span}`;
}

function intField(obj: RawObject, key: string, path: string, range: IntRange, dflt: number): number {
  const value = own(obj, key);
  if (value === undefined) return dflt;
  const ok =
    typeof value === "number" &&
    Number.isSafeInteger(value) &&
    ((value >= range.min && value <= range.max) || (value === 0 && range.zero !== undefined));
  if (!ok) throw new ConfigError(path, value, describeRange(range));
  return value;
}

function enumField<T extends string>(obj: RawObject, key: string, path: string, values: readonly T[], dflt: T): T {
  const value = own(obj, key);
  if (value === undefined) return dflt;
  if (typeof value !== "string" || !(values as readonly string[]).includes(value)) {
    throw new ConfigError(path, value, `one of ${values.map((v) => `"${v}"`).join(", ")}`);
  }
  return value as T;
}

function stringField(
  obj: RawObject,
  key: string,
  test: (text: string) => boolean,
  allowed: string,
  dflt: string,
): string {
  const value = own(obj, key);
  if (value === undefined) return dflt;
  if (typeof value !== "string" || !test(value)) throw new ConfigError(key, value, allowed);
  return value;
}

const HOSTNAME_LABEL = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?";
// Underscores are allowed: docker compose names containers project_service_1.
const HOSTNAME_RE = new RegExp(`^(?=.{1,253}$)${HOSTNAME_LABEL}(?:\\.${HOSTNAME_LABEL})*\\.?$`);

/** A host name, IPv4 address or bare IPv6 address. Dotted numbers must be a real IPv4. */
export function isHost(text: string): boolean {
  if (isIP(text) !== 0) return true;
  if (/^[0-9.]+$/.test(text)) return false;
  return HOSTNAME_RE.test(text);
}

function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || (isIP(host) === 6 && /^[0:]+$/.test(host));
}

const HOST_ALLOWED = "a host name, IPv4 address or IPv6 address";
const NODE_ID_ALLOWED =
  `a hex string of 1..${NODE_ID_HEX_DIGITS_MAX} digits, not all zero (quote it in YAML), e.g. "BB9A1C2D3E4F5"`;

/** Canonical node id (uppercase, no leading zeros), or undefined when `text` is not a valid one. */
export function normalizeNodeId(text: string): string | undefined {
  if (!new RegExp(`^[0-9A-Fa-f]{1,${NODE_ID_HEX_DIGITS_MAX}}$`).test(text)) return undefined;
  const canonical = text.replace(/^0+/, "").toUpperCase();
  return canonical === "" ? undefined : canonical;
}

function nodeIdField(obj: RawObject): string | undefined {
  const value = own(obj, "nodeId");
  if (value === undefined || value === null) return undefined;
  const canonical = typeof value === "string" ? normalizeNodeId(value) : undefined;
  if (canonical === undefined) throw new ConfigError("nodeId", value, NODE_ID_ALLOWED);
  return canonical;
}

const SEED_ALLOWED =
  `"host:port", "[IPv6]:port" or "host" (port ${DEFAULT_HEARTBEAT_PORT}), or {host, port}; ` +
  `host is a name, IPv4 or IPv6 address; port 1..65535`;

/**
 * Parses one seed: "host:port", "[v6]:port", "host" or "[v6]". A port left out means the
 * default heartbeat port, which is what a seed points at. Bare IPv6 needs brackets, since
 * "::1:3002" could be read two ways.
 */
export function parseSeed(text: string, field = "seeds"): SeedAddress {
  const fail = (): never => {
    throw new ConfigError(field, text, SEED_ALLOWED);
  };
  const trimmed = text.trim();
  let host: string;
  let portText: string | undefined;
  if (trimmed.startsWith("[")) {
    const close = trimmed.indexOf("]");
    if (close < 0) fail();
    host = trimmed.slice(1, close);
    const rest = trimmed.slice(close + 1);
    if (isIP(host) !== 6 || (rest !== "" && !rest.startsWith(":"))) fail();
    portText = rest === "" ? undefined : rest.slice(1);
  } else {
    const parts = trimmed.split(":");
    if (parts.length > 2) fail();
    host = parts[0] ?? "";
    portText = parts[1];
    if (!isHost(host) || isIP(host) === 6) fail();
  }
  if (portText === undefined) return { host, port: DEFAULT_HEARTBEAT_PORT };
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  const { min, max } = CONFIG_RANGES.seedPort;
  if (!(port >= min && port <= max)) fail();
  return { host, port };
}

function seedEntry(value: unknown, field: string): SeedAddress {
  if (typeof value === "string") return parseSeed(value, field);
  if (!isPlainObject(value)) throw new ConfigError(field, value, SEED_ALLOWED);
  rejectUnknownKeys(value, ["host", "port"], `${field}.`);
  const host = own(value, "host");
  if (typeof host !== "string" || !isHost(host)) {
    throw new ConfigError(`${field}.host`, host, `${HOST_ALLOWED} (IPv6 without brackets)`);
  }
  const port = intField(value, "port", `${field}.port`, CONFIG_RANGES.seedPort, DEFAULT_HEARTBEAT_PORT);
  return { host, port };
}

function seedsField(obj: RawObject): SeedAddress[] {
  const value = own(obj, "seeds");
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > SEEDS_MAX) {
    throw new ConfigError("seeds", value, `a list of at most ${SEEDS_MAX} seeds, each ${SEED_ALLOWED}`);
  }
  return value.map((entry: unknown, i) => seedEntry(entry, `seeds[${i}]`));
}

// ─── Namespaces ──────────────────────────────────────────────────────────────────────────────

const NAMESPACE_KEYS = [
  "replicationFactor",
  "defaultTtlSec",
  "storage",
  "recordBytesMax",
  "nsupPeriodMs",
  "tombstoneReclaimAgeMs",
] as const satisfies readonly (keyof NamespaceConfig)[];

const NAMESPACE_NAME_RE = new RegExp(`^[A-Za-z0-9_-]{1,${NAMESPACE_NAME_BYTES_MAX}}$`);
const NAMESPACE_NAME_ALLOWED = `names of 1..${NAMESPACE_NAME_BYTES_MAX} characters from [A-Za-z0-9_-]`;

export function isNamespaceName(name: string): boolean {
  return NAMESPACE_NAME_RE.test(name);
}

function namespaceEntry(value: unknown, path: string): NamespaceConfig {
  // `test:` with nothing under it in YAML parses as null: a namespace with all defaults.
  const obj = value === null || value === undefined ? {} : value;
  if (!isPlainObject(obj)) {
    throw new ConfigError(path, value, `an object with fields ${NAMESPACE_KEYS.join(", ")} (or empty)`);
  }
  rejectUnknownKeys(obj, NAMESPACE_KEYS, `${path}.`);
  const r = CONFIG_RANGES;
  return Object.freeze({
    replicationFactor: intField(obj, "replicationFactor", `${path}.replicationFactor`, r.replicationFactor, DEFAULT_REPLICATION_FACTOR),
    defaultTtlSec: intField(obj, "defaultTtlSec", `${path}.defaultTtlSec`, r.defaultTtlSec, DEFAULT_TTL_SEC),
    storage: enumField(obj, "storage", `${path}.storage`, Object.values(StorageKind), DEFAULT_STORAGE),
    recordBytesMax: intField(obj, "recordBytesMax", `${path}.recordBytesMax`, r.recordBytesMax, DEFAULT_RECORD_BYTES_MAX),
    nsupPeriodMs: intField(obj, "nsupPeriodMs", `${path}.nsupPeriodMs`, r.nsupPeriodMs, DEFAULT_NSUP_PERIOD_MS),
    tombstoneReclaimAgeMs: intField(obj, "tombstoneReclaimAgeMs", `${path}.tombstoneReclaimAgeMs`, r.tombstoneReclaimAgeMs, DEFAULT_TOMBSTONE_RECLAIM_AGE_MS),
  });
}

function namespacesField(obj: RawObject): Readonly<Record<string, NamespaceConfig>> {
  const value = own(obj, "namespaces") ?? { [DEFAULT_NAMESPACE]: {} };
  const names = isPlainObject(value) ? Object.keys(value) : [];
  if (!isPlainObject(value) || names.length === 0 || names.length > NAMESPACES_MAX) {
    throw new ConfigError(
      "namespaces",
      value,
      `an object of 1..${NAMESPACES_MAX} namespaces, ${NAMESPACE_NAME_ALLOWED}, each mapped to its settings`,
    );
  }
  const out: Record<string, NamespaceConfig> = Object.create(null) as Record<string, NamespaceConfig>;
  for (const name of names) {
    if (!isNamespaceName(name)) throw new ConfigError("namespaces", name, NAMESPACE_NAME_ALLOWED);
    // defineProperty, not assignment: a namespace named "__proto__" must stay a plain entry.
    Object.defineProperty(out, name, {
      value: namespaceEntry(value[name], `namespaces.${name}`),
      enumerable: true,
    });
  }
  return Object.freeze(out);
}

// ─── validateServerConfig ────────────────────────────────────────────────────────────────────

/** Every ServerConfig key; `satisfies` makes the compiler catch a field added to one list only. */
const SERVER_FIELDS = {
  nodeId: true,
  address: true,
  accessAddress: true,
  servicePort: true,
  fabricPort: true,
  heartbeatPort: true,
  httpPort: true,
  dataDir: true,
  clusterName: true,
  seeds: true,
  multicast: true,
  heartbeatIntervalMs: true,
  heartbeatMissedMax: true,
  namespaces: true,
  connectionsMax: true,
  frameBytesMax: true,
  idleTimeoutMs: true,
  migrationsOutMax: true,
  migrationsInMax: true,
  logLevel: true,
} as const satisfies Record<keyof ServerConfig, true>;

/** The field names a config file may use. */
export const SERVER_CONFIG_KEYS = Object.keys(SERVER_FIELDS) as readonly (keyof ServerConfig)[];

const CLUSTER_NAME_RE = new RegExp(`^[A-Za-z0-9_.-]{1,${CLUSTER_NAME_LENGTH_MAX}}$`);

/**
 * Checks `raw` (a partial config: missing fields take their defaults, unknown fields are errors)
 * and returns a deep-frozen ServerConfig. Throws ConfigError naming the first bad field.
 */
export function validateServerConfig(raw: unknown): ServerConfig {
  if (!isPlainObject(raw)) throw new ConfigError("(root)", raw, "an object of config fields");
  rejectUnknownKeys(raw, SERVER_CONFIG_KEYS, "");
  const r = CONFIG_RANGES;
  const port = (key: string, dflt: number): number => intField(raw, key, key, r.port, dflt);

  const accessAddress = own(raw, "accessAddress");
  if (accessAddress !== undefined && accessAddress !== null) {
    if (typeof accessAddress !== "string" || !isHost(accessAddress) || isWildcard(accessAddress)) {
      throw new ConfigError("accessAddress", accessAddress, `${HOST_ALLOWED}, not a wildcard such as 0.0.0.0 or ::`);
    }
  }
  const config: ServerConfig = {
    nodeId: nodeIdField(raw),
    address: stringField(raw, "address", isHost, HOST_ALLOWED, DEFAULT_ADDRESS),
    ...(typeof accessAddress === "string" ? { accessAddress } : {}),
    servicePort: port("servicePort", DEFAULT_SERVICE_PORT),
    fabricPort: port("fabricPort", DEFAULT_FABRIC_PORT),
    heartbeatPort: port("heartbeatPort", DEFAULT_HEARTBEAT_PORT),
    httpPort: port("httpPort", DEFAULT_HTTP_PORT),
    dataDir: stringField(raw, "dataDir", (s) => s !== "" && !s.includes("\0"), "a non-empty path", DEFAULT_DATA_DIR),
    clusterName: stringField(
      raw,
      "clusterName",
      (s) => CLUSTER_NAME_RE.test(s),
      `1..${CLUSTER_NAME_LENGTH_MAX} characters from [A-Za-z0-9_.-]`,
      DEFAULT_CLUSTER_NAME,
    ),
    seeds: Object.freeze(seedsField(raw).map((seed) => Object.freeze(seed))),
    multicast: booleanField(raw, "multicast", false),
    heartbeatIntervalMs: intField(raw, "heartbeatIntervalMs", "heartbeatIntervalMs", r.heartbeatIntervalMs, DEFAULT_HEARTBEAT_INTERVAL_MS),
    heartbeatMissedMax: intField(raw, "heartbeatMissedMax", "heartbeatMissedMax", r.heartbeatMissedMax, DEFAULT_HEARTBEAT_MISSED_MAX),
    namespaces: namespacesField(raw),
    connectionsMax: intField(raw, "connectionsMax", "connectionsMax", r.connectionsMax, DEFAULT_CONNECTIONS_MAX),
    frameBytesMax: intField(raw, "frameBytesMax", "frameBytesMax", r.frameBytesMax, DEFAULT_FRAME_BYTES_MAX),
    idleTimeoutMs: intField(raw, "idleTimeoutMs", "idleTimeoutMs", r.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS),
    migrationsOutMax: intField(raw, "migrationsOutMax", "migrationsOutMax", r.migrationsMax, DEFAULT_MIGRATIONS_OUT_MAX),
    migrationsInMax: intField(raw, "migrationsInMax", "migrationsInMax", r.migrationsMax, DEFAULT_MIGRATIONS_IN_MAX),
    logLevel: enumField(raw, "logLevel", "logLevel", Object.values(LogLevel), DEFAULT_LOG_LEVEL),
  };
  checkPortsDistinct(config);
  checkRecordsFitFrames(config);
  return Object.freeze(config);
}

function booleanField(obj: RawObject, key: string, dflt: boolean): boolean {
  const value = own(obj, key);
  if (value === undefined) return dflt;
  if (typeof value !== "boolean") throw new ConfigError(key, value, "true or false");
  return value;
}

function checkPortsDistinct(config: ServerConfig): void {
  const keys = ["servicePort", "fabricPort", "heartbeatPort", "httpPort"] as const;
  keys.forEach((key, i) => {
    const clash = keys.slice(0, i).find((other) => config[other] !== 0 && config[other] === config[key]);
    if (clash !== undefined) {
      throw new ConfigError(key, config[key], `a port other than ${clash} (${config[clash]}), or 0 to pick a free port`);
    }
  });
}

function checkRecordsFitFrames(config: ServerConfig): void {
  const recordBytesLimit = config.frameBytesMax - FRAME_HEADROOM_BYTES;
  for (const [name, ns] of Object.entries(config.namespaces)) {
    if (ns.recordBytesMax > recordBytesLimit) {
      throw new ConfigError(
        `namespaces.${name}.recordBytesMax`,
        ns.recordBytesMax,
        `at most frameBytesMax (${config.frameBytesMax}) - ${FRAME_HEADROOM_BYTES} bytes of headroom = ` +
          `${recordBytesLimit}; raise frameBytesMax or lower recordBytesMax`,
      );
    }
  }
}

// ─── Profiles ────────────────────────────────────────────────────────────────────────────────

/** The production defaults: every field at its documented default. */
export function defaultServerConfig(): ServerConfig {
  return validateServerConfig({});
}

/**
 * For tests and local experiments: many nodes on one machine, quick to converge, no fixed ports.
 * Override dataDir (a temp dir) and, for restart tests, `storage: "lmdb"`.
 */
export function localProfile(): ServerConfig {
  return validateServerConfig({
    // Loopback only: a test node must never be reachable from, or join, a real network.
    address: "127.0.0.1",
    // Port 0 everywhere: parallel test files never collide; tests read the bound ports back.
    servicePort: 0,
    fabricPort: 0,
    heartbeatPort: 0,
    httpPort: 0,
    // 50 ms × 10 = a lost peer in 0.5 s: fast enough for tests, slack enough for a loaded
    // 2-core CI box whose event loop stalls for a few hundred ms.
    heartbeatIntervalMs: 50,
    heartbeatMissedMax: 10,
    // Memory storage: no shared ./data between nodes of one test, nothing left on disk.
    // A short sweep period lets expiry tests observe reclaimed records quickly.
    namespaces: { [DEFAULT_NAMESPACE]: { storage: StorageKind.Memory, nsupPeriodMs: 100 } },
    // Quiet test output; failures still log.
    logLevel: LogLevel.Warn,
  });
}

// The defaults are themselves a valid config (cheap: runs once at load).
assert.ok(Object.isFrozen(defaultServerConfig()));
