/**
 * Goal: the server configuration is one validated, frozen value, and every way of getting a
 * setting wrong is reported at startup with the field, the value given and what is allowed.
 *
 * Method: table-driven checks of validateServerConfig (defaults, every field's bad values,
 * unknown keys, cross-field relations), fast-check properties for node id normalisation and
 * seed parsing, and the command line end to end through loadServerConfig with real YAML/JSON
 * files in a temp dir: flags > env > file > defaults, repeatable --namespace, error sources.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServerConfig, parseServerArgs, USAGE } from "../../server/cli-args.js";
import {
  CONFIG_RANGES,
  ConfigError,
  DEFAULT_FRAME_BYTES_MAX,
  FRAME_HEADROOM_BYTES,
  SERVER_CONFIG_KEYS,
  defaultServerConfig,
  localProfile,
  normalizeNodeId,
  parseSeed,
  validateServerConfig,
  type ServerConfig,
} from "../../server/config.js";

/** Runs `fn`, expecting a ConfigError; returns it for further checks. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError, got none");
}

function expectDeepFrozen(value: unknown): void {
  if (typeof value !== "object" || value === null) return;
  expect(Object.isFrozen(value)).toBe(true);
  for (const child of Object.values(value)) expectDeepFrozen(child);
}

const NS_DEFAULTS = {
  replicationFactor: 2,
  defaultTtlSec: 0,
  storage: "lmdb",
  recordBytesMax: 1_048_576,
  nsupPeriodMs: 10_000,
  tombstoneReclaimAgeMs: 60_000,
};

describe("defaults and profiles", () => {
  it("defaultServerConfig has the documented defaults", () => {
    const config = defaultServerConfig();
    expect({ ...config, namespaces: { ...config.namespaces } }).toEqual({
      nodeId: undefined,
      address: "0.0.0.0",
      servicePort: 3000,
      fabricPort: 3001,
      heartbeatPort: 3002,
      httpPort: 3003,
      dataDir: "./data",
      clusterName: "shoal",
      seeds: [],
      multicast: false,
      heartbeatIntervalMs: 150,
      heartbeatMissedMax: 10,
      namespaces: { test: NS_DEFAULTS },
      connectionsMax: 10_000,
      frameBytesMax: 8 * 1024 * 1024,
      idleTimeoutMs: 60_000,
      migrationsOutMax: 4,
      migrationsInMax: 16,
      logLevel: "info",
    });
    expect("accessAddress" in config).toBe(false);
  });

  it("results are deep-frozen", () => {
    const config = validateServerConfig({ seeds: ["a:1"], namespaces: { x: {} } });
    expectDeepFrozen(config);
    expectDeepFrozen(defaultServerConfig());
    expectDeepFrozen(localProfile());
    expect(() => {
      (config as { servicePort: number }).servicePort = 1;
    }).toThrow(TypeError);
  });

  it("validation is idempotent, so profiles can be spread and re-validated", () => {
    for (const config of [defaultServerConfig(), localProfile()]) {
      expect(validateServerConfig(config)).toEqual(config);
    }
    const custom = validateServerConfig({ ...localProfile(), dataDir: "/tmp/x", nodeId: "00ab" });
    expect(custom.dataDir).toBe("/tmp/x");
    expect(validateServerConfig(custom)).toEqual(custom);
  });

  it("localProfile uses free ports, loopback and short intervals", () => {
    const local = localProfile();
    expect([local.servicePort, local.fabricPort, local.heartbeatPort, local.httpPort]).toEqual([0, 0, 0, 0]);
    expect(local.address).toBe("127.0.0.1");
    expect(local.heartbeatIntervalMs).toBeLessThan(defaultServerConfig().heartbeatIntervalMs);
    expect(local.namespaces["test"]?.nsupPeriodMs).toBeLessThan(NS_DEFAULTS.nsupPeriodMs);
  });

  it("namespaces never resolve inherited properties", () => {
    const config = defaultServerConfig();
    expect(config.namespaces["constructor"]).toBeUndefined();
    expect(config.namespaces["toString"]).toBeUndefined();
    const odd = validateServerConfig(JSON.parse('{"namespaces": {"__proto__": {"replicationFactor": 3}}}'));
    expect(Object.keys(odd.namespaces)).toEqual(["__proto__"]);
    expect(odd.namespaces["__proto__"]?.replicationFactor).toBe(3);
  });

  it("a YAML-style null namespace entry means all defaults", () => {
    expect(validateServerConfig({ namespaces: { a: null } }).namespaces["a"]).toEqual(NS_DEFAULTS);
  });
});

describe("validateServerConfig rejects bad values, naming field, value and allowed", () => {
  // [raw, field, a piece of the allowed text]
  const cases: [Record<string, unknown>, string, string][] = [
    [{ nodeId: "" }, "nodeId", "hex string of 1..16 digits"],
    [{ nodeId: "000" }, "nodeId", "not all zero"],
    [{ nodeId: "12345678901234567" }, "nodeId", "1..16"],
    [{ nodeId: "xyz" }, "nodeId", "hex"],
    [{ nodeId: 123 }, "nodeId", "quote it in YAML"],
    [{ address: "" }, "address", "host name"],
    [{ address: "bad host" }, "address", "IPv4"],
    [{ address: 7 }, "address", "host name"],
    [{ accessAddress: "0.0.0.0" }, "accessAddress", "not a wildcard"],
    [{ accessAddress: "::" }, "accessAddress", "not a wildcard"],
    [{ accessAddress: "1.2.3.999" }, "accessAddress", "IPv4"],
    [{ servicePort: 65_536 }, "servicePort", "0..65535"],
    [{ fabricPort: -1 }, "fabricPort", "0..65535"],
    [{ heartbeatPort: 1.5 }, "heartbeatPort", "an integer 0..65535"],
    [{ httpPort: "3003" }, "httpPort", "0 = pick a free port"],
    [{ dataDir: "" }, "dataDir", "non-empty path"],
    [{ dataDir: 5 }, "dataDir", "non-empty path"],
    [{ clusterName: "" }, "clusterName", "1..64"],
    [{ clusterName: "a b" }, "clusterName", "[A-Za-z0-9_.-]"],
    [{ clusterName: "x".repeat(65) }, "clusterName", "1..64"],
    [{ seeds: "a:1" }, "seeds", "a list"],
    [{ seeds: ["a:0"] }, "seeds[0]", "port 1..65535"],
    [{ seeds: ["ok:1", "::1:3002"] }, "seeds[1]", "[IPv6]:port"],
    [{ seeds: [{ host: "a" , port: 0 }] }, "seeds[0].port", "1..65535"],
    [{ seeds: [{ host: "[::1]", port: 1 }] }, "seeds[0].host", "without brackets"],
    [{ seeds: [42] }, "seeds[0]", "host:port"],
    [{ multicast: "yes" }, "multicast", "true or false"],
    [{ heartbeatIntervalMs: 0 }, "heartbeatIntervalMs", "5..60000"],
    [{ heartbeatIntervalMs: 60_001 }, "heartbeatIntervalMs", "5..60000"],
    [{ heartbeatMissedMax: 1 }, "heartbeatMissedMax", "2..1000"],
    [{ namespaces: {} }, "namespaces", "1..32 namespaces"],
    [{ namespaces: [] }, "namespaces", "1..32 namespaces"],
    [{ namespaces: { "bad name": {} } }, "namespaces", "[A-Za-z0-9_-]"],
    [{ namespaces: { ["n".repeat(32)]: {} } }, "namespaces", "1..31"],
    [{ namespaces: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`n${i}`, {}])) }, "namespaces", "1..32"],
    [{ namespaces: { test: 5 } }, "namespaces.test", "replicationFactor"],
    [{ namespaces: { test: { replicationFactor: 0 } } }, "namespaces.test.replicationFactor", "1..255"],
    [{ namespaces: { test: { replicationFactor: 256 } } }, "namespaces.test.replicationFactor", "1..255"],
    [{ namespaces: { test: { defaultTtlSec: -1 } } }, "namespaces.test.defaultTtlSec", "0 = never expire"],
    [{ namespaces: { test: { defaultTtlSec: 315_360_001 } } }, "namespaces.test.defaultTtlSec", "0..315360000"],
    [{ namespaces: { test: { storage: "disk" } } }, "namespaces.test.storage", '"lmdb", "memory"'],
    [{ namespaces: { test: { recordBytesMax: 1023 } } }, "namespaces.test.recordBytesMax", "1024..134217728"],
    [{ namespaces: { test: { nsupPeriodMs: 5 } } }, "namespaces.test.nsupPeriodMs", "0 (never sweep) or"],
    [{ namespaces: { test: { tombstoneReclaimAgeMs: 50 } } }, "namespaces.test.tombstoneReclaimAgeMs", "100"],
    [{ connectionsMax: 0 }, "connectionsMax", "1..1000000"],
    [{ migrationsInMax: 0 }, "migrationsInMax", "1..1024"],
    [{ frameBytesMax: 1024 }, "frameBytesMax", "131072..268435456"],
    [{ idleTimeoutMs: -5 }, "idleTimeoutMs", "0 (never time out)"],
    [{ logLevel: "verbose" }, "logLevel", '"trace", "debug", "info", "warn", "error", "silent"'],
    [{ logLevel: "INFO" }, "logLevel", '"info"'],
  ];

  it.each(cases)("%j → %s", (raw, field, allowed) => {
    const err = configError(() => validateServerConfig(raw));
    expect(err.field).toBe(field);
    expect(err.allowed).toContain(allowed);
    expect(err.message).toContain(`'${field}'`);
    expect(err.message).toContain(`allowed: ${err.allowed}`);
    expect(err.message).toMatch(/got /);
    expect(err.name).toBe("ConfigError");
    expect(err.code).toBe("ERR_SHOAL_CONFIG");
  });

  it("puts the given value in the error and its message", () => {
    const err = configError(() => validateServerConfig({ namespaces: { test: { replicationFactor: 300 } } }));
    expect(err.value).toBe(300);
    expect(err.message).toBe("invalid 'namespaces.test.replicationFactor': got 300; allowed: an integer 1..255");
  });

  it("accepts the special zeros and range ends", () => {
    const config = validateServerConfig({
      idleTimeoutMs: 0,
      heartbeatIntervalMs: CONFIG_RANGES.heartbeatIntervalMs.max,
      servicePort: 65_535,
      namespaces: { a: { nsupPeriodMs: 0, defaultTtlSec: 315_360_000, replicationFactor: 255 } },
    });
    expect(config.idleTimeoutMs).toBe(0);
    expect(config.namespaces["a"]?.nsupPeriodMs).toBe(0);
  });

  it("rejects a namespace whose records cannot fit a frame", () => {
    const limit = DEFAULT_FRAME_BYTES_MAX - FRAME_HEADROOM_BYTES;
    expect(validateServerConfig({ namespaces: { big: { recordBytesMax: limit } } }).namespaces["big"]?.recordBytesMax).toBe(limit);
    const err = configError(() => validateServerConfig({ namespaces: { big: { recordBytesMax: limit + 1 } } }));
    expect(err.field).toBe("namespaces.big.recordBytesMax");
    expect(err.allowed).toContain("frameBytesMax");
    const fits = validateServerConfig({ frameBytesMax: 256 * 1024 * 1024, namespaces: { big: { recordBytesMax: 128 * 1024 * 1024 } } });
    expect(fits.frameBytesMax).toBe(256 * 1024 * 1024);
  });

  it("rejects two listeners on one port, but allows several port 0s", () => {
    const err = configError(() => validateServerConfig({ servicePort: 4000, httpPort: 4000 }));
    expect(err.field).toBe("httpPort");
    expect(err.allowed).toContain("servicePort");
    expect(validateServerConfig({ servicePort: 0, fabricPort: 0 }).fabricPort).toBe(0);
  });

  it("rejects non-objects at the root", () => {
    for (const raw of [null, undefined, 5, "x", [], new Map()]) {
      expect(configError(() => validateServerConfig(raw)).field).toBe("(root)");
    }
  });
});

describe("unknown keys", () => {
  it("names the unknown top-level field and lists the allowed ones", () => {
    const err = configError(() => validateServerConfig({ servicePort: 1, foo: 2 }));
    expect(err.field).toBe("foo");
    expect(err.message).toMatch(/^unknown field 'foo'/);
    for (const key of SERVER_CONFIG_KEYS) expect(err.allowed).toContain(key);
  });

  it("rejects unknown namespace and seed fields with their path", () => {
    expect(configError(() => validateServerConfig({ namespaces: { test: { replication: 3 } } })).field).toBe(
      "namespaces.test.replication",
    );
    expect(configError(() => validateServerConfig({ seeds: [{ host: "a", port: 1, tls: true }] })).field).toBe(
      "seeds[0].tls",
    );
  });

  it("does not let inherited names through", () => {
    expect(configError(() => validateServerConfig(JSON.parse('{"__proto__": {"x": 1}}'))).field).toBe("__proto__");
    expect(configError(() => validateServerConfig({ constructor: 1 })).field).toBe("constructor");
  });
});

describe("node id", () => {
  it("is normalised to uppercase hex without leading zeros", () => {
    expect(validateServerConfig({ nodeId: "00bb9a" }).nodeId).toBe("BB9A");
    expect(validateServerConfig({ nodeId: "ffffffffffffffff" }).nodeId).toBe("FFFFFFFFFFFFFFFF");
    expect(validateServerConfig({ nodeId: "1" }).nodeId).toBe("1");
    expect(validateServerConfig({ nodeId: null }).nodeId).toBeUndefined();
  });

  it("matches %lX of the parsed number for every valid id (property)", () => {
    const hexDigit = fc.constantFrom(..."0123456789abcdefABCDEF");
    fc.assert(
      fc.property(fc.string({ unit: hexDigit, minLength: 1, maxLength: 16 }), (text) => {
        const value = BigInt(`0x${text}`);
        const canonical = normalizeNodeId(text);
        if (value === 0n) return canonical === undefined;
        return canonical === value.toString(16).toUpperCase();
      }),
    );
  });
});

describe("seeds", () => {
  it.each([
    ["a:1", { host: "a", port: 1 }],
    ["10.0.0.7:3002", { host: "10.0.0.7", port: 3002 }],
    ["[::1]:4000", { host: "::1", port: 4000 }],
    ["[fe80::1%eth0]:4000", { host: "fe80::1%eth0", port: 4000 }],
    ["[2001:db8::5]", { host: "2001:db8::5", port: 3002 }],
    ["shoal", { host: "shoal", port: 3002 }],
    ["shoal_node_1.svc.cluster.local:3002", { host: "shoal_node_1.svc.cluster.local", port: 3002 }],
    ["  padded:9 ", { host: "padded", port: 9 }],
  ])("parses %s", (text, expected) => {
    expect(parseSeed(text)).toEqual(expected);
  });

  it.each(["", ":3000", "::1", "::1:3002", "[::1", "[::1]x", "[10.0.0.1]:1", "a:", "a:0", "a:65536", "a:1x", "a:b:c", "1.2.3.999:1", "-bad:1"])(
    "rejects %j",
    (text) => {
      const err = configError(() => parseSeed(text, "seeds[3]"));
      expect(err.field).toBe("seeds[3]");
      expect(err.value).toBe(text);
    },
  );

  it("accepts strings and {host, port} objects in a config", () => {
    const config = validateServerConfig({ seeds: ["a:1", { host: "::1", port: 2 }, { host: "b" }] });
    expect(config.seeds).toEqual([
      { host: "a", port: 1 },
      { host: "::1", port: 2 },
      { host: "b", port: 3002 },
    ]);
  });

  it("round-trips any host:port (property)", () => {
    const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
    const host = fc.oneof(fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join(".")), fc.ipV4());
    fc.assert(
      fc.property(host, fc.integer({ min: 1, max: 65_535 }), (h, port) => {
        expect(parseSeed(`${h}:${port}`)).toEqual({ host: h, port });
        expect(parseSeed(h).port).toBe(3002);
      }),
    );
  });
});

// ─── Command line ────────────────────────────────────────────────────────────────────────────

let dir = "";
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "shoal-config-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeFile(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const load = (argv: string[], env: Record<string, string | undefined> = {}): ServerConfig =>
  loadServerConfig(argv, env);

describe("parseServerArgs", () => {
  it("defaults to the server command and returns only what flags and env set", () => {
    expect(parseServerArgs([], {})).toEqual({ command: "server", raw: {} });
    const parsed = parseServerArgs(["server", "--service-port", "4000", "--config=/x.yaml"], { SHOAL_HTTP_PORT: "4003" });
    expect(parsed).toEqual({ command: "server", raw: { servicePort: 4000, httpPort: 4003 }, configFile: "/x.yaml" });
  });

  it("recognises help and version, ignoring a broken environment", () => {
    expect(parseServerArgs(["help"], { SHOAL_MULTICAST: "maybe" }).command).toBe("help");
    expect(parseServerArgs(["server", "--help"], {}).command).toBe("help");
    expect(parseServerArgs(["-h"], {}).command).toBe("help");
    expect(parseServerArgs(["version"], {}).command).toBe("version");
    expect(parseServerArgs(["--version"], {}).command).toBe("version");
  });

  it("rejects unknown commands and extra arguments", () => {
    expect(configError(() => parseServerArgs(["serve"], {})).field).toBe("command");
    expect(configError(() => parseServerArgs(["server", "extra"], {})).field).toBe("command");
  });

  it("rejects unknown flags by name", () => {
    const err = configError(() => parseServerArgs(["server", "--servce-port", "3000"], {}));
    expect(err.field).toBe("--servce-port");
    expect(err.message).toMatch(/^unknown flag '--servce-port'/);
    expect(err.allowed).toContain("--service-port");
    expect(configError(() => parseServerArgs(["-x"], {})).field).toBe("-x");
    expect(configError(() => parseServerArgs(["--foo=1"], {})).value).toBe("--foo=1");
  });

  it("rejects a flag without its value", () => {
    expect(configError(() => parseServerArgs(["--service-port"], {})).field).toBe("--service-port");
    const err = configError(() => parseServerArgs(["--data-dir", "--multicast"], {}));
    expect(err.field).toBe("--data-dir");
    expect(err.message).toMatch(/^missing value for '--data-dir'/);
    expect(configError(() => parseServerArgs(["--help=yes"], {})).field).toBe("--help");
  });

  it("USAGE lists every flag with its env var and default", () => {
    const flags = ["config", "node-id", "service-port", "fabric-port", "heartbeat-port", "http-port", "address",
      "access-address", "data-dir", "namespace", "seeds", "multicast", "cluster-name", "log-level"];
    for (const flag of flags) {
      expect(USAGE).toContain(`--${flag}`);
      expect(USAGE).toContain(`SHOAL_${flag.toUpperCase().replace(/-/g, "_")}`);
    }
    for (const dflt of ["default: 3000", "default: 3001", "default: 3002", "default: 3003", "default: ./data", "default: 0.0.0.0", "default: shoal", "default: info", "default: false"]) {
      expect(USAGE).toContain(dflt);
    }
  });
});

describe("loadServerConfig", () => {
  it("with nothing given is the default config", () => {
    expect(load([])).toEqual(defaultServerConfig());
  });

  it("reads every flag, in both --flag value and --flag=value form", () => {
    const config = load([
      "server", "--node-id", "00abc", "--service-port=4000", "--fabric-port", "4001", "--heartbeat-port=4002",
      "--http-port", "4003", "--address", "127.0.0.1", "--access-address=10.1.2.3", "--data-dir", "/var/shoal",
      "--namespace", "users", "--namespace=sessions", "--seeds", "a:1,[::1]:2,b", "--multicast",
      "--cluster-name=prod", "--log-level", "debug",
    ]);
    expect(config).toMatchObject({
      nodeId: "ABC", servicePort: 4000, fabricPort: 4001, heartbeatPort: 4002, httpPort: 4003,
      address: "127.0.0.1", accessAddress: "10.1.2.3", dataDir: "/var/shoal", multicast: true,
      clusterName: "prod", logLevel: "debug",
      seeds: [{ host: "a", port: 1 }, { host: "::1", port: 2 }, { host: "b", port: 3002 }],
    });
    expect(Object.keys(config.namespaces)).toEqual(["users", "sessions"]);
    expect(config.namespaces["users"]).toEqual(NS_DEFAULTS);
  });

  it("reads every env var", () => {
    const config = load([], {
      SHOAL_NODE_ID: "f1", SHOAL_SERVICE_PORT: "5000", SHOAL_FABRIC_PORT: "5001", SHOAL_HEARTBEAT_PORT: "5002",
      SHOAL_HTTP_PORT: "5003", SHOAL_ADDRESS: "::", SHOAL_ACCESS_ADDRESS: "node1.example", SHOAL_DATA_DIR: "/d",
      SHOAL_NAMESPACE: "a, b,,c", SHOAL_SEEDS: "shoal:3002, [fe80::2]:3002", SHOAL_MULTICAST: "1",
      SHOAL_CLUSTER_NAME: "c1", SHOAL_LOG_LEVEL: "warn",
    });
    expect(config).toMatchObject({
      nodeId: "F1", servicePort: 5000, fabricPort: 5001, heartbeatPort: 5002, httpPort: 5003, address: "::",
      accessAddress: "node1.example", dataDir: "/d", multicast: true, clusterName: "c1", logLevel: "warn",
      seeds: [{ host: "shoal", port: 3002 }, { host: "fe80::2", port: 3002 }],
    });
    expect(Object.keys(config.namespaces)).toEqual(["a", "b", "c"]);
  });

  it("SHOAL_MULTICAST takes true/false/1/0; --no-multicast and --multicast=false turn it off", () => {
    expect(load([], { SHOAL_MULTICAST: "TRUE" }).multicast).toBe(true);
    expect(load([], { SHOAL_MULTICAST: "0" }).multicast).toBe(false);
    expect(load(["--no-multicast"], { SHOAL_MULTICAST: "true" }).multicast).toBe(false);
    expect(load(["--multicast=false"], { SHOAL_MULTICAST: "true" }).multicast).toBe(false);
    const err = configError(() => load([], { SHOAL_MULTICAST: "yes" }));
    expect(err.field).toBe("multicast");
    expect(err.message).toContain("SHOAL_MULTICAST");
    expect(err.allowed).toBe("true, false, 1 or 0");
  });

  it("treats empty env vars as unset", () => {
    expect(load([], { SHOAL_SEEDS: "", SHOAL_SERVICE_PORT: " ", SHOAL_NAMESPACE: "" })).toEqual(defaultServerConfig());
  });

  it("applies flags > env > file > defaults", () => {
    const file = writeFile("layers.yaml", "servicePort: 1000\nfabricPort: 1001\nheartbeatPort: 1002\nclusterName: fromfile\n");
    const env = { SHOAL_CONFIG: file, SHOAL_SERVICE_PORT: "2000", SHOAL_FABRIC_PORT: "2001" };
    const config = load(["--service-port", "3100"], env);
    expect(config.servicePort).toBe(3100); // flag beats env and file
    expect(config.fabricPort).toBe(2001); // env beats file
    expect(config.heartbeatPort).toBe(1002); // file beats default
    expect(config.clusterName).toBe("fromfile");
    expect(config.httpPort).toBe(3003); // default
  });

  it("--config beats SHOAL_CONFIG", () => {
    const a = writeFile("a.json", '{"dataDir": "/a"}');
    const b = writeFile("b.json", '{"dataDir": "/b"}');
    expect(load(["--config", b], { SHOAL_CONFIG: a }).dataDir).toBe("/b");
  });

  it("reads YAML and JSON files, by extension or by trying JSON then YAML", () => {
    const yaml = [
      "nodeId: \"0a1\"",
      "seeds: [\"a:1\", {host: b, port: 2}]",
      "namespaces:",
      "  test:",
      "  users:",
      "    replicationFactor: 3",
      "    storage: memory",
      "",
    ].join("\n");
    const expectLoaded = (config: ServerConfig): void => {
      expect(config.nodeId).toBe("A1");
      expect(config.seeds).toEqual([{ host: "a", port: 1 }, { host: "b", port: 2 }]);
      expect(config.namespaces["test"]).toEqual(NS_DEFAULTS);
      expect(config.namespaces["users"]).toEqual({ ...NS_DEFAULTS, replicationFactor: 3, storage: "memory" });
    };
    expectLoaded(load(["--config", writeFile("c.yaml", yaml)]));
    expectLoaded(load(["--config", writeFile("c.yml", yaml)]));
    expectLoaded(load(["--config", writeFile("c.conf", yaml)]));
    const json = JSON.stringify({
      nodeId: "0a1",
      seeds: ["a:1", { host: "b", port: 2 }],
      namespaces: { test: {}, users: { replicationFactor: 3, storage: "memory" } },
    });
    expectLoaded(load(["--config", writeFile("c.json", json)]));
    expectLoaded(load(["--config", writeFile("c-json-noext", json)]));
  });

  it("an empty YAML file means defaults", () => {
    expect(load(["--config", writeFile("empty.yaml", "")])).toEqual(defaultServerConfig());
  });

  it("uses the injected readFile", () => {
    const files: Record<string, string> = { "/etc/shoal.yaml": "httpPort: 9000\n" };
    const config = loadServerConfig(["--config", "/etc/shoal.yaml"], {}, (file) => {
      const text = files[file];
      if (text === undefined) throw new Error(`ENOENT: ${file}`);
      return text;
    });
    expect(config.httpPort).toBe(9000);
  });

  it("reports unreadable and malformed files against the flag or env var naming them", () => {
    const missing = configError(() => load(["--config", path.join(dir, "nope.yaml")]));
    expect(missing.field).toBe("--config");
    expect(missing.message).toContain("nope.yaml");
    expect(missing.cause).toBeInstanceOf(Error);
    const badJson = configError(() => load([], { SHOAL_CONFIG: writeFile("bad.json", "{ servicePort: ") }));
    expect(badJson.field).toBe("SHOAL_CONFIG");
    expect(badJson.allowed).toMatch(/JSON or YAML/);
    const badYaml = configError(() => load(["--config", writeFile("bad.yaml", "a: [1,\n")]));
    expect(badYaml.field).toBe("--config");
    const list = configError(() => load(["--config", writeFile("list.yaml", "- 1\n- 2\n")]));
    expect(list.allowed).toContain("a list");
    const dup = configError(() => load(["--config", writeFile("dup.yaml", "httpPort: 1\nhttpPort: 2\n")]));
    expect(dup.field).toBe("--config");
  });

  it("names the flag, env var or file a bad value came from", () => {
    const fromFlag = configError(() => load(["--service-port", "70000"], { SHOAL_SERVICE_PORT: "1" }));
    expect(fromFlag.field).toBe("servicePort");
    expect(fromFlag.source).toBe("--service-port");
    expect(fromFlag.message).toBe(
      "invalid 'servicePort' (from --service-port): got 70000; allowed: an integer 0..65535 (0 = pick a free port)",
    );
    const notNumber = configError(() => load(["--http-port=abc"]));
    expect(notNumber.message).toContain("--http-port");
    expect(notNumber.value).toBe("abc");
    expect(configError(() => load([], { SHOAL_LOG_LEVEL: "loud" })).message).toContain("SHOAL_LOG_LEVEL");
    expect(configError(() => load(["--namespace", "bad!"])).message).toContain("--namespace");
    expect(configError(() => load(["--seeds", "a:1,::1"])).message).toContain("--seeds");
    expect(configError(() => load(["--node-id", "0"])).source).toBe("--node-id");
    const file = writeFile("badns.yaml", "namespaces:\n  test:\n    replicationFactor: 0\n");
    const fromFile = configError(() => load(["--config", file]));
    expect(fromFile.field).toBe("namespaces.test.replicationFactor");
    expect(fromFile.message).toContain(`config file ${file}`);
    const unknown = configError(() => load(["--config", writeFile("unknown.json", '{"foo": 1}')]));
    expect(unknown.message).toMatch(/^unknown field 'foo' \(from config file .*unknown\.json\)/);
  });

  it("--namespace selects namespaces; named ones missing from the file get defaults", () => {
    const file = writeFile("ns.yaml", "namespaces:\n  users: {replicationFactor: 3}\n  sessions: {storage: memory}\n");
    const selected = load(["--config", file, "--namespace", "users", "--namespace", "fresh"]);
    expect(Object.keys(selected.namespaces)).toEqual(["users", "fresh"]);
    expect(selected.namespaces["users"]?.replicationFactor).toBe(3);
    expect(selected.namespaces["fresh"]).toEqual(NS_DEFAULTS);
    // Without --namespace, the file's namespaces are served as written.
    expect(Object.keys(load(["--config", file]).namespaces)).toEqual(["users", "sessions"]);
    // SHOAL_NAMESPACE works the same; the flag beats it; repeats collapse.
    expect(Object.keys(load(["--config", file], { SHOAL_NAMESPACE: "sessions" }).namespaces)).toEqual(["sessions"]);
    expect(Object.keys(load(["--namespace", "x,y", "--namespace", "x"], { SHOAL_NAMESPACE: "z" }).namespaces)).toEqual(["x", "y"]);
  });

  it("the last of a repeated single-valued flag wins", () => {
    expect(load(["--service-port", "1", "--service-port", "2"]).servicePort).toBe(2);
  });
});
