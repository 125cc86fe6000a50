/**
 * Peers and host strings: the parsers for `peers-clear-std` values and "host:port" lists.
 *
 * Concept: a node lists the other cluster members it knows as
 *   `<gen>,<defaultPort>,[[<NODEID>,<tlsName>,[<host[:port]>,...]],...]`      (§8.3)
 * where the default port may be empty (`1,,[...]`, then 3000), a host without a port takes the
 * default, IPv6 addresses are bracketed (`[::1]:3000`, `[fe80::1]`), and tlsName is usually
 * empty. The same host syntax serves the client's `hosts` option ("a:3000,[::1]:3001").
 *
 * Invariants: pure functions; anything malformed is a ProtocolError (network input) or a
 * ParameterError (user input); ports are integers 1..65535; node ids are 1..19 characters
 * (C compares at most 19, so a longer id would look "changed" on every tend).
 */
import { ProtocolError } from "./protocol/index.js";
import { parameterError } from "./errors.js";
import type { Host } from "./node-pool.js";

export const SERVICE_PORT_DEFAULT = 3000;
export const NODE_NAME_CHARS_MAX = 19;
/** Peers per reply and addresses per peer we accept (bounds on hostile input). */
export const PEERS_MAX = 1024;
export const PEER_ADDRESSES_MAX = 32;

export interface Peer {
  readonly nodeName: string;
  readonly tlsName: string;
  readonly hosts: readonly Host[];
}

export interface PeersReply {
  readonly generation: number;
  readonly peers: readonly Peer[];
}

/** A cursor over the peers string. */
class Reader {
  pos = 0;
  constructor(readonly s: string) {}
  peek(): string | undefined {
    return this.s[this.pos];
  }
  expect(ch: string): void {
    if (this.s[this.pos] !== ch) this.fail(`expected "${ch}"`);
    this.pos++;
  }
  /** Characters up to (not including) the first of `stops`. */
  until(stops: string): string {
    const start = this.pos;
    while (this.pos < this.s.length && !stops.includes(this.s[this.pos]!)) this.pos++;
    return this.s.slice(start, this.pos);
  }
  fail(why: string): never {
    throw new ProtocolError(`peers: ${why} at offset ${this.pos} of ${JSON.stringify(this.s.slice(0, 120))}`);
  }
}

/** Parses a `peers-clear-std` (or `peers-tls-std`) value. */
export function parsePeers(value: string): PeersReply {
  const r = new Reader(value.trim());
  const gen = r.until(",");
  if (!/^\d{1,15}$/.test(gen)) r.fail(`invalid generation ${JSON.stringify(gen)}`);
  r.expect(",");
  const portText = r.until(",");
  const defaultPort = portText === "" ? SERVICE_PORT_DEFAULT : parsePort(portText, (why) => r.fail(why));
  r.expect(",");
  r.expect("[");
  const peers: Peer[] = [];
  if (r.peek() !== "]") {
    for (;;) {
      peers.push(readPeer(r, defaultPort));
      if (peers.length > PEERS_MAX) r.fail(`more than ${PEERS_MAX} peers`);
      if (r.peek() !== ",") break;
      r.pos++;
    }
  }
  r.expect("]");
  if (r.pos !== r.s.length) r.fail("trailing characters");
  return { generation: Number(gen), peers };
}

function readPeer(r: Reader, defaultPort: number): Peer {
  r.expect("[");
  const nodeName = r.until(",");
  if (nodeName.length === 0 || nodeName.length > NODE_NAME_CHARS_MAX) r.fail(`invalid node id ${JSON.stringify(nodeName)}`);
  r.expect(",");
  const tlsName = r.until(",");
  r.expect(",");
  r.expect("[");
  const hosts: Host[] = [];
  if (r.peek() !== "]") {
    for (;;) {
      hosts.push(readHost(r, defaultPort));
      if (hosts.length > PEER_ADDRESSES_MAX) r.fail(`more than ${PEER_ADDRESSES_MAX} addresses for ${nodeName}`);
      if (r.peek() !== ",") break;
      r.pos++;
    }
  }
  r.expect("]");
  r.expect("]");
  return { nodeName, tlsName, hosts };
}

function readHost(r: Reader, defaultPort: number): Host {
  let host: string;
  if (r.peek() === "[") {
    r.pos++;
    host = r.until("]");
    r.expect("]");
    if (!host.includes(":")) r.fail(`bracketed address ${JSON.stringify(host)} is not IPv6`);
  } else {
    host = r.until(":,]");
  }
  if (host.length === 0) r.fail("empty host");
  let port = defaultPort;
  if (r.peek() === ":") {
    r.pos++;
    port = parsePort(r.until(",]"), (why) => r.fail(why));
  }
  return { host, port };
}

function parsePort(s: string, fail: (why: string) => never): number {
  if (!/^\d{1,5}$/.test(s)) fail(`invalid port ${JSON.stringify(s)}`);
  const port = Number(s);
  if (port < 1 || port > 65535) fail(`port ${port} out of range [1, 65535]`);
  return port;
}

/**
 * User host list: "h1:3000,h2", "[::1]:3000", or an array of {host, port?}. A missing port is
 * `defaultPort`. Throws ParameterError naming the bad entry.
 */
export function parseHosts(
  hosts: string | ReadonlyArray<{ readonly host: string; readonly port?: number }>,
  defaultPort = SERVICE_PORT_DEFAULT,
): Host[] {
  const out: Host[] = [];
  if (typeof hosts === "string") {
    for (const raw of hosts.split(",")) {
      const entry = raw.trim();
      if (entry.length === 0) continue;
      out.push(parseHostEntry(entry, defaultPort));
    }
  } else if (Array.isArray(hosts)) {
    for (const h of hosts) {
      if (h === null || typeof h !== "object" || typeof h.host !== "string" || h.host.length === 0) {
        throw parameterError(`hosts: each entry needs a non-empty host, got ${JSON.stringify(h)}`);
      }
      const port = h.port ?? defaultPort;
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw parameterError(`hosts: port ${port} of ${h.host} must be an integer in range [1, 65535]`);
      }
      out.push({ host: h.host.replace(/^\[(.*)\]$/, "$1"), port });
    }
  } else {
    throw parameterError(`hosts must be a string "host:port,..." or an array of {host, port}`);
  }
  if (out.length === 0) throw parameterError(`hosts is empty: give at least one seed "host:port"`);
  return out;
}

function parseHostEntry(entry: string, defaultPort: number): Host {
  const fail = (why: string): never => {
    throw parameterError(`hosts: invalid entry ${JSON.stringify(entry)}: ${why}`);
  };
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(entry);
  if (v6) {
    host = v6[1]!;
    portText = v6[2];
  } else if ((entry.match(/:/g) ?? []).length > 1) {
    host = entry; // bare IPv6 address without a port
  } else {
    const i = entry.indexOf(":");
    host = i < 0 ? entry : entry.slice(0, i);
    portText = i < 0 ? undefined : entry.slice(i + 1);
  }
  if (host.length === 0) fail("empty host");
  const port = portText === undefined ? defaultPort : parsePort(portText, fail);
  return { host, port };
}
