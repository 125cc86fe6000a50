#!/usr/bin/env node
/**
 * The `shoal` command line. `shoal server [flags]` starts a node (the default command);
 * `shoal info [--host H:P] CMD...` asks a running node info commands; `shoal help`, `shoal version`.
 *
 * Contract relied on by tests and tooling: when the node serves it prints exactly one JSON line
 * on stdout, `{"event":"ready","nodeId":...,"servicePort":...,"httpPort":...,...}`; logs go to
 * stderr. A bad config prints one error naming the field and exits with code 2. SIGTERM/SIGINT
 * shut down gracefully and exit 0.
 *
 * This is the only module that reads process.argv / process.env.
 */
import net from "node:net";
import { FrameDecoder } from "../client/protocol/frame.js";
import { decodeInfoResponse, encodeInfoRequest } from "../client/protocol/info.js";
import { loadServerConfig, USAGE } from "./cli-args.js";
import { ConfigError } from "./config.js";
import { createLogger } from "./logger.js";
import { ShoalNode, VERSION } from "./node.js";

async function main(argv: string[]): Promise<number> {
  const command = argv[0] && !argv[0].startsWith("-") ? argv[0] : "server";
  const rest = argv[0] === command ? argv.slice(1) : argv;
  switch (command) {
    case "server":
      return runServer(rest);
    case "info":
      return runInfo(rest);
    case "version":
    case "--version":
      process.stdout.write(`shoal ${VERSION}\n`);
      return 0;
    case "help":
    case "--help":
      process.stdout.write(USAGE + INFO_USAGE);
      return 0;
    default:
      process.stderr.write(`shoal: unknown command '${command}'\n\n${USAGE}${INFO_USAGE}`);
      return 2;
  }
}

const INFO_USAGE = `
Usage: shoal info [--host HOST:PORT] COMMAND...   ask a node info commands (default 127.0.0.1:3000)
  e.g. shoal info statistics    shoal info namespace/test    shoal info node peers-clear-std
`;

async function runServer(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  let config;
  try {
    config = loadServerConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`shoal: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  // Handlers go in before anything starts, so a signal during start-up also shuts down cleanly.
  let signalled: (signal: string) => void = () => undefined;
  const signal = new Promise<string>((resolve) => (signalled = resolve));
  process.once("SIGTERM", () => signalled("SIGTERM"));
  process.once("SIGINT", () => signalled("SIGINT"));
  // Test harnesses set this so that a node never outlives the process that started it (even one
  // that crashed): when our stdin closes, shut down as on SIGTERM.
  if (process.env.SHOAL_EXIT_WITH_STDIN === "1") {
    process.stdin.on("end", () => signalled("stdin closed"));
    process.stdin.on("error", () => signalled("stdin closed"));
    process.stdin.resume();
  }
  const node = new ShoalNode(config, log);
  const ports = await node.start();
  process.stdout.write(JSON.stringify({
    event: "ready", nodeId: node.nodeId, clusterName: config.clusterName, address: config.address,
    servicePort: ports.service, fabricPort: ports.fabric, heartbeatPort: ports.heartbeat, httpPort: ports.http,
    dataDir: config.dataDir,
    namespaces: Object.keys(config.namespaces), pid: process.pid,
  }) + "\n");
  log.info({ signal: await signal }, "signal received");
  try {
    await node.close();
    return 0;
  } catch (err) {
    log.error({ err }, "shutdown failed");
    return 1;
  }
}

async function runInfo(argv: string[]): Promise<number> {
  let host = "127.0.0.1";
  let port = 3000;
  const commands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--host" || a.startsWith("--host=")) {
      const value = a.includes("=") ? a.slice(7) : argv[++i] ?? "";
      const m = /^(.*):(\d+)$/.exec(value);
      host = (m ? m[1]! : value).replace(/^\[|\]$/g, "");
      if (m) port = Number(m[2]);
    } else commands.push(a);
  }
  if (commands.length === 0) commands.push("node", "build", "cluster-name", "cluster-size", "peers-clear-std", "namespaces", "statistics");
  const reply = await infoRequest(host, port, commands);
  for (const [k, v] of reply) process.stdout.write(`${k}\t${v}\n`);
  return 0;
}

function infoRequest(host: string, port: number, commands: string[]): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const decoder = new FrameDecoder();
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer from ${host}:${port} within 5 s`)));
    socket.on("connect", () => socket.write(encodeInfoRequest(commands)));
    socket.on("data", (chunk) => {
      const frames = decoder.push(chunk);
      if (frames.length > 0) {
        socket.end();
        resolve(decodeInfoResponse(frames[0]!.body));
      }
    });
    socket.on("error", reject);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`shoal: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
