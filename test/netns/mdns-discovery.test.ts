/**
 * Goal: multicast discovery works between real hosts: every node of a cluster finds every other
 * node (its address and heartbeat port) within a bounded time, never reports itself, ignores
 * nodes of another cluster on the same link and even on the same host, stops hearing a host cut
 * off by a partition, and hears it again after the heal without a restart.
 * Method: a 3-host network-namespace bed (shared/tools/testbed.sh via ./harness.ts). In each host
 * runs a tiny Node script that imports the BUILT module (dist/, built before the suite runs),
 * starts an `MdnsDiscovery` with the host's address and prints discovered peers as JSON lines.
 * Cluster "alpha" has one node per host (host 3 without `interface`, to cover the routed
 * default); cluster "beta" has two nodes on hosts 1 and 2. Root only: skipped otherwise.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Bed, type BedEvent, type BedProcess, netnsSkipReason, REPO_ROOT, sleep, sweepStaleBeds, waitFor } from "./harness.js";

const MODULE = path.join(REPO_ROOT, "dist/server/cluster/mdns-discovery.js");
const INTERVAL_MS = 1000;
const DISCOVERY_TIMEOUT_MS = 10_000;
const MAX_SECONDS = 60; // every node exits by itself after this, whatever happens to the runner

// argv: clusterName nodeId host heartbeatPort interface|"-" intervalMs maxSeconds
const NODE_SCRIPT = (moduleUrl: string): string => `
import { MdnsDiscovery } from ${JSON.stringify(moduleUrl)};
const [clusterName, nodeId, host, port, iface, intervalMs, maxSeconds] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify({ t: Date.now(), node: nodeId, ...o }) + "\\n");
const log = {
  debug() {},
  warn: (o, m) => process.stderr.write(nodeId + " warn: " + m + " " + JSON.stringify(o) + "\\n"),
};
const discovery = new MdnsDiscovery({
  clusterName, nodeId, host, heartbeatPort: Number(port), intervalMs: Number(intervalMs), log,
  ...(iface === "-" ? {} : { interface: iface }),
}, (peer) => out({ ev: "peer", ...peer }));
let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  out({ ev: "stats", ...discovery.stats() });
  await discovery.close();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
setTimeout(stop, Number(maxSeconds) * 1000).unref();
await discovery.start();
out({ ev: "ready" });
`;

interface NodeSpec {
  readonly host: number;
  readonly cluster: string;
  readonly nodeId: string;
  readonly port: number;
  readonly iface: boolean;
}

const ALPHA: readonly NodeSpec[] = [
  { host: 1, cluster: "alpha", nodeId: "A1", port: 3001, iface: true },
  { host: 2, cluster: "alpha", nodeId: "A2", port: 3002, iface: true },
  { host: 3, cluster: "alpha", nodeId: "A3", port: 3003, iface: false },
];
const BETA: readonly NodeSpec[] = [
  { host: 1, cluster: "beta", nodeId: "B1", port: 4001, iface: true },
  { host: 2, cluster: "beta", nodeId: "B2", port: 4002, iface: true },
];

const peerEvents = (p: BedProcess, since = 0): BedEvent[] =>
  p.events.filter((e) => e["ev"] === "peer" && (e["t"] as number) >= since);
const peerIds = (p: BedProcess, since = 0): Set<string> => new Set(peerEvents(p, since).map((e) => e["nodeId"] as string));
const eventTime = (p: BedProcess, pred: (e: BedEvent) => boolean): number => {
  const e = p.events.find(pred);
  if (e === undefined) throw new Error("event not found");
  return e["t"] as number;
};

const skipReason = netnsSkipReason();

describe.skipIf(skipReason !== undefined)(`mDNS discovery across network namespaces${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let bed: Bed | undefined;
  let tmp: string | undefined;
  let script = "";
  const alpha = new Map<string, BedProcess>();
  const beta = new Map<string, BedProcess>();

  const start = (spec: NodeSpec, bedNow: Bed): BedProcess =>
    bedNow.spawn(spec.host, process.execPath, [
      script, spec.cluster, spec.nodeId, bedNow.addr(spec.host), String(spec.port),
      spec.iface ? bedNow.addr(spec.host) : "-", String(INTERVAL_MS), String(MAX_SECONDS),
    ]);

  beforeAll(() => {
    if (!fs.existsSync(MODULE)) throw new Error(`${MODULE} missing: build first (npx tsc -p tsconfig.json)`);
    sweepStaleBeds();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "shoal-mdns-"));
    script = path.join(tmp, "mdns-node.mjs");
    fs.writeFileSync(script, NODE_SCRIPT(pathToFileURL(MODULE).href));
    bed = new Bed().up(3);
  }, 30_000);

  afterAll(async () => {
    try {
      if (bed !== undefined) {
        await bed.down();
        expect(bed.namespaces()).toEqual([]);
      }
    } finally {
      if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 30_000);

  it("every alpha node finds the other two within 10 s; beta nodes are ignored", async () => {
    const b = bed!;
    const t0 = Date.now();
    for (const spec of ALPHA) alpha.set(spec.nodeId, start(spec, b));
    for (const spec of BETA) beta.set(spec.nodeId, start(spec, b));
    const all = [...alpha.values(), ...beta.values()];
    const meshed = (): boolean =>
      [...alpha.values()].every((p) => peerIds(p).size >= 2) && [...beta.values()].every((p) => peerIds(p).size >= 1);
    try {
      await waitFor(meshed, DISCOVERY_TIMEOUT_MS, 10, "full discovery");
    } catch (err) {
      const detail = all.map((p) => `host ${p.host}: peers ${[...peerIds(p)].join(",")} stderr ${p.stderrText.slice(0, 500)}`);
      throw new Error(`${(err as Error).message}\n${detail.join("\n")}`);
    }
    const tMesh = Date.now();
    // Another period and a half: a leak across clusters would show up by now.
    await sleep(INTERVAL_MS * 1.5);

    for (const spec of ALPHA) {
      const p = alpha.get(spec.nodeId)!;
      expect(peerIds(p)).toEqual(new Set(ALPHA.filter((s) => s !== spec).map((s) => s.nodeId)));
      for (const e of peerEvents(p)) {
        const other = ALPHA.find((s) => s.nodeId === e["nodeId"])!;
        expect({ host: e["host"], port: e["port"] }).toEqual({ host: b.addr(other.host), port: other.port });
      }
      expect(p.stderrText).toBe("");
    }
    for (const spec of BETA) {
      const p = beta.get(spec.nodeId)!;
      expect(peerIds(p)).toEqual(new Set(BETA.filter((s) => s !== spec).map((s) => s.nodeId)));
      expect(p.stderrText).toBe("");
    }

    const ready = all.map((p) => eventTime(p, (e) => e["ev"] === "ready"));
    const lastPeer = (p: BedProcess, ids: readonly string[]): number =>
      Math.max(...ids.map((id) => eventTime(p, (e) => e["ev"] === "peer" && e["nodeId"] === id)));
    const meshAt = Math.max(
      ...ALPHA.map((s) => lastPeer(alpha.get(s.nodeId)!, ALPHA.filter((o) => o !== s).map((o) => o.nodeId))),
    );
    console.log(JSON.stringify({
      spawn_to_all_ready_ms: Math.max(...ready) - t0,
      spawn_to_alpha_mesh_ms: meshAt - t0,
      last_ready_to_alpha_mesh_ms: meshAt - Math.max(...ready),
      wait_returned_after_ms: tMesh - t0,
    }));
  });

  it("a partitioned host is no longer reported, and is reported again after the heal", async () => {
    const b = bed!;
    const [a1, a2, a3] = ALPHA.map((s) => alpha.get(s.nodeId)!);
    if (a1 === undefined || a2 === undefined || a3 === undefined) throw new Error("previous test did not start the nodes");
    b.partition([1, 2], [3]);
    const tPart = Date.now();
    await sleep(INTERVAL_MS * 2.5);
    // A packet already in flight when the rules went in may still land: allow 100 ms.
    expect(peerEvents(a1, tPart + 100).filter((e) => e["nodeId"] === "A3")).toEqual([]);
    expect(peerEvents(a2, tPart + 100).filter((e) => e["nodeId"] === "A3")).toEqual([]);
    expect(peerIds(a3, tPart + 100)).toEqual(new Set());
    // The healthy side still hears itself.
    expect(peerIds(a1, tPart + 100)).toEqual(new Set(["A2"]));

    b.heal();
    const tHeal = Date.now();
    const healed = (): boolean => peerIds(a1, tHeal).has("A3") && peerIds(a2, tHeal).has("A3") && peerIds(a3, tHeal).size === 2;
    const ms = await waitFor(healed, INTERVAL_MS * 3 + 2_000, 10, "rediscovery after heal");
    console.log(JSON.stringify({ heal_to_rediscovered_ms: ms }));
    expect(ms).toBeLessThan(INTERVAL_MS * 3);
  });

  it("a node stopped by SIGTERM exits cleanly after its goodbye", async () => {
    const b = bed!;
    const p = beta.get("B2")!;
    b.kill(p, "SIGTERM");
    const exit = await Promise.race([p.exited, sleep(5_000).then(() => undefined)]);
    expect(exit).toEqual({ code: 0, signal: null });
    const stats = p.events.find((e) => e["ev"] === "stats");
    expect(stats?.["announcementsSent"]).toBeGreaterThan(0);
    expect(stats?.["sendErrors"]).toBe(0);
  });
});
