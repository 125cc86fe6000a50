/**
 * The `shoal` command line: flags, SHOAL_* environment variables and the config file, merged
 * into one raw object that `validateServerConfig` turns into a ServerConfig.
 *
 * Concept: four layers, highest precedence first:
 *
 *     flags (--service-port 3000)  >  env (SHOAL_SERVICE_PORT)  >  file (--config)  >  defaults
 *
 * Every flag is one row of `FLAGS` (flag, env var, config field, kind, help, default text), so
 * the parser, the environment reader and `USAGE` cannot disagree.
 *
 * Invariants:
 * - argv and env are parameters; this module never reads `process` (main.ts passes them in).
 * - every problem is a ConfigError whose message names its source (the flag, the env var or the
 *   config file), so main.ts prints `err.message` and exits 2.
 * - flag and env strings are converted only as far as their kind needs ("3000" → 3000 when it is
 *   a decimal integer); ranges and formats are checked in one place, validateServerConfig.
 * - namespaces: `--namespace`/SHOAL_NAMESPACE choose which namespaces the node serves; each takes
 *   its settings from the config file when the file has it, else the defaults. Without them the
 *   file's namespaces are served, and without a file, `test`.
 * - an empty environment variable counts as unset (compose files often write `SHOAL_SEEDS=`).
 *
 * Why node:util parseArgs in non-strict mode with tokens: its own strict errors do not say
 * which option failed in a field we could read without parsing message text, so we take its
 * tokens and report unknown flags and missing values ourselves.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import {
  ConfigError,
  DEFAULT_ADDRESS,
  DEFAULT_CLUSTER_NAME,
  DEFAULT_DATA_DIR,
  DEFAULT_FABRIC_PORT,
  DEFAULT_FRAME_BYTES_MAX,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_HEARTBEAT_MISSED_MAX,
  DEFAULT_HEARTBEAT_PORT,
  DEFAULT_HTTP_PORT,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_CONNECTIONS_MAX,
  DEFAULT_LOG_LEVEL,
  DEFAULT_NAMESPACE,
  DEFAULT_NSUP_PERIOD_MS,
  DEFAULT_TOMBSTONE_RECLAIM_AGE_MS,
  DEFAULT_MIGRATIONS_OUT_MAX,
  DEFAULT_MIGRATIONS_IN_MAX,
  DEFAULT_RECORD_BYTES_MAX,
  DEFAULT_REPLICATION_FACTOR,
  DEFAULT_SERVICE_PORT,
  DEFAULT_STORAGE,
  DEFAULT_TTL_SEC,
  LogLevel,
  validateServerConfig,
  type ServerConfig,
} from "./config.js";

export const ServerCommand = { Server: "server", Help: "help", Version: "version" } as const;
export type ServerCommand = (typeof ServerCommand)[keyof typeof ServerCommand];

/** What the command line asks for, before the config file is read. */
export interface ParsedServerArgs {
  readonly command: ServerCommand;
  /** Fields set by flags or env (flags win), in ServerConfig's shape but unchecked. */
  readonly raw: object;
  /** The config file to read (--config, else SHOAL_CONFIG). */
  readonly configFile?: string;
}

/** Reads a file as text; `fs.readFileSync` in production, a map lookup in tests. */
export type ReadFile = (file: string, encoding: "utf8") => string;

type Kind = "string" | "int" | "bool" | "seeds" | "namespaces" | "config" | "command";

interface FlagSpec {
  /** Long name without dashes. */
  readonly flag: string;
  readonly short?: string;
  readonly env?: string;
  /** ServerConfig field set (for kind "config"/"command": none). */
  readonly field?: keyof ServerConfig;
  readonly kind: Kind;
  /** Placeholder for the value in USAGE, "" for switches. */
  readonly arg: string;
  readonly help: string;
  readonly defaultText: string;
  /** For switches: the value the flag sets (`--no-multicast` sets false). */
  readonly sets?: boolean;
}

const FLAGS: readonly FlagSpec[] = [
  { flag: "config", env: "SHOAL_CONFIG", kind: "config", arg: "FILE", defaultText: "none",
    help: "config file: .json is JSON, .yaml/.yml YAML, else JSON then YAML" },
  { flag: "node-id", env: "SHOAL_NODE_ID", field: "nodeId", kind: "string", arg: "HEX",
    defaultText: "kept in the data dir, else generated",
    help: "node id, 1..16 hex digits, not zero" },
  { flag: "address", env: "SHOAL_ADDRESS", field: "address", kind: "string", arg: "ADDR",
    defaultText: DEFAULT_ADDRESS, help: "address every listener binds" },
  { flag: "access-address", env: "SHOAL_ACCESS_ADDRESS", field: "accessAddress", kind: "string", arg: "ADDR",
    defaultText: "derived from the interfaces", help: "address advertised to clients and peers" },
  { flag: "service-port", env: "SHOAL_SERVICE_PORT", field: "servicePort", kind: "int", arg: "N",
    defaultText: String(DEFAULT_SERVICE_PORT), help: "client port (Aerospike wire protocol); 0 = any free port" },
  { flag: "fabric-port", env: "SHOAL_FABRIC_PORT", field: "fabricPort", kind: "int", arg: "N",
    defaultText: String(DEFAULT_FABRIC_PORT), help: "node-to-node RPC port; 0 = any free port" },
  { flag: "heartbeat-port", env: "SHOAL_HEARTBEAT_PORT", field: "heartbeatPort", kind: "int", arg: "N",
    defaultText: String(DEFAULT_HEARTBEAT_PORT), help: "mesh heartbeat port; 0 = any free port" },
  { flag: "http-port", env: "SHOAL_HTTP_PORT", field: "httpPort", kind: "int", arg: "N",
    defaultText: String(DEFAULT_HTTP_PORT), help: "HTTP admin port (/health, /metrics); 0 = any free port" },
  { flag: "data-dir", env: "SHOAL_DATA_DIR", field: "dataDir", kind: "string", arg: "DIR",
    defaultText: DEFAULT_DATA_DIR, help: "directory for data and the node id" },
  { flag: "namespace", env: "SHOAL_NAMESPACE", field: "namespaces", kind: "namespaces", arg: "NAME",
    defaultText: `the config file's, else ${DEFAULT_NAMESPACE}`,
    help: "namespace to serve; repeat or comma-separate for several (env: comma-separated)" },
  { flag: "seeds", env: "SHOAL_SEEDS", field: "seeds", kind: "seeds", arg: "HOST:PORT,...",
    defaultText: "none", help: `mesh seeds: name, IPv4 or [IPv6], port defaults to ${DEFAULT_HEARTBEAT_PORT}` },
  { flag: "multicast", env: "SHOAL_MULTICAST", field: "multicast", kind: "bool", arg: "", sets: true,
    defaultText: "false", help: "discover peers by multicast DNS (env: true/false/1/0)" },
  { flag: "no-multicast", field: "multicast", kind: "bool", arg: "", sets: false,
    defaultText: "", help: "turn multicast discovery off (overrides env and file)" },
  { flag: "cluster-name", env: "SHOAL_CLUSTER_NAME", field: "clusterName", kind: "string", arg: "NAME",
    defaultText: DEFAULT_CLUSTER_NAME, help: "nodes join only peers with the same name" },
  { flag: "log-level", env: "SHOAL_LOG_LEVEL", field: "logLevel", kind: "string", arg: "LEVEL",
    defaultText: DEFAULT_LOG_LEVEL, help: Object.values(LogLevel).join("|") },
  { flag: "help", short: "h", kind: "command", arg: "", defaultText: "", help: "print this help" },
  { flag: "version", short: "v", kind: "command", arg: "", defaultText: "", help: "print the version" },
];

const FLAG_BY_NAME = new Map(FLAGS.map((spec) => [spec.flag, spec]));
const COMMANDS = Object.values(ServerCommand) as readonly string[];
const PARSE_OPTIONS = Object.fromEntries(
  FLAGS.map((spec) => [
    spec.flag,
    {
      type: spec.kind === "bool" || spec.kind === "command" ? "boolean" : "string",
      ...(spec.short === undefined ? {} : { short: spec.short }),
    } as const,
  ]),
);
const FLAG_LIST = FLAGS.map((spec) => `--${spec.flag}`).join(", ");

// ─── USAGE ───────────────────────────────────────────────────────────────────────────────────

function usageLine(spec: FlagSpec): string {
  const name = `${spec.short === undefined ? "    " : `-${spec.short}, `}--${spec.flag}${spec.arg ? ` ${spec.arg}` : ""}`;
  const where = [spec.env ? `env ${spec.env}` : "", spec.defaultText ? `default: ${spec.defaultText}` : ""]
    .filter((part) => part !== "")
    .join("; ");
  return `  ${name}\n        ${spec.help}${where ? `\n        (${where})` : ""}`;
}

/** Help text: every flag with its environment variable and default. */
export const USAGE = `Usage: shoal [server] [flags]     start a node (the default command)
       shoal help | --help | -h     print this help
       shoal version | --version    print the version

Settings, highest precedence first: flags, SHOAL_* environment variables, the config file,
built-in defaults. Flags take "--flag value" or "--flag=value". Empty env variables are ignored.

Flags:
${FLAGS.map(usageLine).join("\n")}

Config file fields (JSON or YAML; names as below, unknown fields are errors):
  nodeId, address, accessAddress, servicePort, fabricPort, heartbeatPort, httpPort, dataDir,
  clusterName, seeds (["host:port", {host, port}]), multicast,
  heartbeatIntervalMs (default ${DEFAULT_HEARTBEAT_INTERVAL_MS}), heartbeatMissedMax (default ${DEFAULT_HEARTBEAT_MISSED_MAX}),
  connectionsMax (default ${DEFAULT_CONNECTIONS_MAX}), frameBytesMax (default ${DEFAULT_FRAME_BYTES_MAX}),
  idleTimeoutMs (default ${DEFAULT_IDLE_TIMEOUT_MS}, 0 = never), logLevel,
  migrationsOutMax (default ${DEFAULT_MIGRATIONS_OUT_MAX}), migrationsInMax (default ${DEFAULT_MIGRATIONS_IN_MAX}),
  namespaces: { NAME: { replicationFactor (default ${DEFAULT_REPLICATION_FACTOR}), defaultTtlSec (default ${DEFAULT_TTL_SEC} = never),
                        storage (lmdb|memory, default ${DEFAULT_STORAGE}), recordBytesMax (default ${DEFAULT_RECORD_BYTES_MAX}),
                        nsupPeriodMs (default ${DEFAULT_NSUP_PERIOD_MS}), tombstoneReclaimAgeMs (default ${DEFAULT_TOMBSTONE_RECLAIM_AGE_MS}) } }
`;

// ─── Parsing argv and env ────────────────────────────────────────────────────────────────────

interface Collected extends ParsedServerArgs {
  /** Config field → where its value came from ("--service-port", "SHOAL_SEEDS"). */
  readonly sources: ReadonlyMap<string, string>;
  /** Where configFile came from. */
  readonly configSource?: string;
}

function parseBool(text: string, source: string, field: string): boolean {
  const lower = text.trim().toLowerCase();
  if (lower === "true" || lower === "1") return true;
  if (lower === "false" || lower === "0") return false;
  throw new ConfigError(field, text, "true, false, 1 or 0", { source });
}

/** Splits a comma-separated list, dropping blanks ("a, b," → ["a", "b"]). */
function splitList(text: string): string[] {
  return text.split(",").map((item) => item.trim()).filter((item) => item !== "");
}

/** Converts a flag or env string to what its field holds; validation comes later. */
function convert(spec: FlagSpec, text: string, source: string): unknown {
  switch (spec.kind) {
    case "int":
      // Only plain decimals become numbers; anything else stays text so the range check reports it.
      return /^[+-]?[0-9]{1,16}$/.test(text.trim()) ? Number(text.trim()) : text;
    case "bool":
      return parseBool(text, source, spec.field ?? spec.flag);
    case "seeds":
      return splitList(text);
    case "namespaces":
      return splitList(text);
    default:
      return text;
  }
}

function namespacesOf(names: readonly string[]): Record<string, object> {
  const out = Object.create(null) as Record<string, object>;
  // A name given twice (`--namespace a --namespace a`, or `a,a`) is served once.
  for (const name of new Set(names)) Object.defineProperty(out, name, { value: {}, enumerable: true });
  return out;
}

function scanFlags(argv: readonly string[]): { positionals: string[]; values: Map<FlagSpec, unknown> } {
  const { tokens } = parseArgs({
    args: [...argv],
    options: PARSE_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const positionals: string[] = [];
  const values = new Map<FlagSpec, unknown>();
  for (const token of tokens) {
    if (token.kind === "positional") positionals.push(token.value);
    if (token.kind !== "option") continue;
    const spec = FLAG_BY_NAME.get(token.name);
    if (spec === undefined) {
      throw new ConfigError(token.rawName, argv[token.index], FLAG_LIST, { problem: "unknown flag" });
    }
    const source = token.rawName;
    if (spec.kind === "bool" || spec.kind === "command") {
      // `--multicast=false` is accepted for scripts; `--help=x` is not.
      if (token.value !== undefined && spec.kind === "command") {
        throw new ConfigError(source, token.value, "no value", { problem: "unexpected value for" });
      }
      const on = token.value === undefined ? true : parseBool(token.value, source, spec.flag);
      values.set(spec, spec.sets === false ? !on : on);
      continue;
    }
    // Non-strict parseArgs takes the next argument even when it is another flag.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith("-"))) {
      throw new ConfigError(source, undefined, `a value: ${source} ${spec.arg} or ${source}=${spec.arg}`, {
        problem: "missing value for",
      });
    }
    const converted = convert(spec, token.value, source);
    if (spec.kind === "namespaces") {
      const earlier = (values.get(spec) as string[] | undefined) ?? [];
      values.set(spec, [...earlier, ...(converted as string[])]);
    } else {
      values.set(spec, converted);
    }
  }
  return { positionals, values };
}

function commandOf(positionals: readonly string[], values: ReadonlyMap<FlagSpec, unknown>): ServerCommand {
  if (values.get(FLAG_BY_NAME.get("help")!) === true) return ServerCommand.Help;
  if (values.get(FLAG_BY_NAME.get("version")!) === true) return ServerCommand.Version;
  const [first, ...rest] = positionals;
  if (rest.length > 0) throw new ConfigError("command", positionals, `one command: ${COMMANDS.join(", ")}`);
  if (first === undefined) return ServerCommand.Server;
  if (!COMMANDS.includes(first)) throw new ConfigError("command", first, COMMANDS.join(", "));
  return first as ServerCommand;
}

function collect(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, withEnv: boolean): Collected {
  const { positionals, values } = scanFlags(argv);
  const command = commandOf(positionals, values);
  const raw: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  let configFile: string | undefined;
  let configSource: string | undefined;
  // Env first, then flags over it: the later write wins.
  const layers: [string, (spec: FlagSpec) => unknown][] = [];
  if (withEnv) {
    layers.push(["env", (spec) => {
      const text = spec.env === undefined ? undefined : env[spec.env];
      return text === undefined || text.trim() === "" ? undefined : convert(spec, text, spec.env!);
    }]);
  }
  layers.push(["flag", (spec) => values.get(spec)]);
  for (const [layer, valueOf] of layers) {
    for (const spec of FLAGS) {
      const value = valueOf(spec);
      if (value === undefined || spec.kind === "command") continue;
      const source = layer === "env" ? spec.env! : `--${spec.flag}`;
      if (spec.kind === "config") {
        configFile = value as string;
        configSource = source;
        continue;
      }
      const field = spec.field!;
      raw[field] = spec.kind === "namespaces" ? namespacesOf(value as string[]) : value;
      sources.set(field, source);
    }
  }
  return {
    command,
    raw,
    sources,
    ...(configFile === undefined ? {} : { configFile }),
    ...(configSource === undefined ? {} : { configSource }),
  };
}

/**
 * Reads the command, and the settings given by flags and env (flags win), from `argv` (without
 * the node and script paths) and `env`. For `help` and `version`, env is not read and `raw` is
 * empty, so a broken environment cannot hide the help text.
 */
export function parseServerArgs(argv: string[], env: Record<string, string | undefined>): ParsedServerArgs {
  const flagsOnly = collect(argv, env, false);
  if (flagsOnly.command !== ServerCommand.Server) return { command: flagsOnly.command, raw: {} };
  const { command, raw, configFile } = collect(argv, env, true);
  return { command, raw, ...(configFile === undefined ? {} : { configFile }) };
}

// ─── The config file ─────────────────────────────────────────────────────────────────────────

const FILE_ALLOWED = "a readable JSON or YAML file holding an object of config fields";

function parseConfigText(text: string, file: string): unknown {
  const ext = path.extname(file).toLowerCase();
  if (ext === ".json") return JSON.parse(text);
  if (ext === ".yaml" || ext === ".yml") return parseYaml(text);
  try {
    return JSON.parse(text);
  } catch {
    return parseYaml(text);
  }
}

function readConfigFile(file: string, source: string, readFile: ReadFile): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseConfigText(readFile(file, "utf8"), file);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new ConfigError(source, file, `${FILE_ALLOWED} (${reason})`, { source, cause: err });
  }
  // An empty file (YAML null) means "all defaults".
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError(source, file, `${FILE_ALLOWED} (the file holds ${Array.isArray(parsed) ? "a list" : typeof parsed})`, { source });
  }
  return parsed as Record<string, unknown>;
}

/**
 * Lays flags/env over the file. Namespaces are special: the names given on the command line
 * replace the file's set, each keeping the file's settings for that name if it has them.
 */
function mergeLayers(file: Record<string, unknown>, overlay: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...file, ...overlay };
  const fileNamespaces = file["namespaces"];
  const cliNamespaces = overlay["namespaces"];
  if (cliNamespaces !== undefined && fileNamespaces !== null && typeof fileNamespaces === "object" && !Array.isArray(fileNamespaces)) {
    const fileTable = fileNamespaces as Record<string, unknown>;
    const out = Object.create(null) as Record<string, unknown>;
    for (const name of Object.keys(cliNamespaces as object)) {
      const settings = Object.hasOwn(fileTable, name) ? fileTable[name] : {};
      Object.defineProperty(out, name, { value: settings, enumerable: true });
    }
    merged["namespaces"] = out;
  }
  return merged;
}

/** The source to blame for an error on `field`: the flag or env var that set it, else the file. */
function sourceOf(field: string, collected: Collected, fileLabel: string | undefined): string | undefined {
  const top = field.split(/[.[]/)[0] ?? field;
  const namespaceSetting = top === "namespaces" && field.includes(".");
  if (!namespaceSetting) {
    const source = collected.sources.get(top);
    if (source !== undefined) return source;
  }
  return fileLabel;
}

/**
 * Builds the node's ServerConfig from `argv`, `env` and the config file they name.
 * Throws ConfigError (message names the flag, env var or file, the value and what is allowed).
 */
export function loadServerConfig(
  argv: string[],
  env: Record<string, string | undefined>,
  readFile: ReadFile = fs.readFileSync,
): ServerConfig {
  const collected = collect(argv, env, true);
  const { configFile, configSource } = collected;
  const file = configFile === undefined ? {} : readConfigFile(configFile, configSource ?? "--config", readFile);
  const fileLabel = configFile === undefined ? undefined : `config file ${configFile}`;
  try {
    return validateServerConfig(mergeLayers(file, collected.raw as Record<string, unknown>));
  } catch (err) {
    if (!(err instanceof ConfigError) || err.source !== undefined) throw err;
    const source = sourceOf(err.field, collected, fileLabel);
    if (source === undefined) throw err;
    throw new ConfigError(err.field, err.value, err.allowed, { source, problem: err.problem, cause: err });
  }
}
