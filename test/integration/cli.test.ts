/**
 * Goal: the CLI contract later work relies on: `shoal server` prints one JSON ready line with
 * its bound ports; bad config exits 2 with one error naming the field and the allowed values;
 * SIGTERM/SIGINT shut down gracefully (exit 0); the node id persists in the data dir;
 * `shoal info` asks a running node; the HTTP admin answers /health, /v1/cluster and /metrics.
 *
 * Method: spawn real processes of dist/server/main.js.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanup, runCli, startNode, tempDir } from "./harness.js";

afterAll(() => cleanup());

describe("shoal CLI", () => {
  it("prints a ready line, keeps its node id across restarts, exits 0 on SIGTERM and SIGINT", async () => {
    const node = await startNode();
    expect(node.ready.event).toBe("ready");
    expect(node.servicePort).toBeGreaterThan(0);
    expect(node.ready.httpPort).toBeGreaterThan(0);
    expect(node.nodeId).toMatch(/^[0-9A-F]{1,16}$/);
    expect(fs.readFileSync(path.join(node.dataDir, "node-id"), "utf8").trim()).toBe(node.nodeId);
    expect(await node.stop("SIGTERM")).toBe(0);
    const again = await startNode({ dataDir: node.dataDir });
    expect(again.nodeId).toBe(node.nodeId);
    expect(await again.stop("SIGINT")).toBe(0);
  });

  it("a configured node id wins and is normalised; a bad one is refused", async () => {
    const ok = await startNode({ args: ["--node-id", "0bb9000000000001"] });
    expect(ok.nodeId).toBe("BB9000000000001");
    await ok.stop();
    const bad = await runCli(["server", "--node-id", "12345678901234567", "--data-dir", tempDir()]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/nodeId/);
  });

  it("bad config: exit code 2 and one error naming the field and what is allowed", async () => {
    const port = await runCli(["server", "--service-port", "70000", "--data-dir", tempDir()]);
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/servicePort/);
    expect(port.stderr).toMatch(/0\.\.65535/);

    const file = path.join(tempDir(), "bad.yaml");
    fs.writeFileSync(file, "namespaces:\n  test:\n    storage: disk\n");
    const storage = await runCli(["server", "--config", file, "--data-dir", tempDir()]);
    expect(storage.code).toBe(2);
    expect(storage.stderr).toMatch(/storage/);
    expect(storage.stderr).toMatch(/lmdb/);
    expect(storage.stderr).toMatch(/memory/);

    const env = await runCli(["server", "--data-dir", tempDir()], { SHOAL_HEARTBEAT_PORT: "abc" });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/SHOAL_HEARTBEAT_PORT/);

    const flag = await runCli(["server", "--no-such-flag"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/no-such-flag/);
  });

  it("shoal info asks a running node; HTTP admin answers", async () => {
    const node = await startNode({ args: ["--namespace", "test", "--namespace", "other"] });
    const out = await runCli(["info", "--host", `127.0.0.1:${node.servicePort}`, "node", "namespaces"]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`node\t${node.nodeId}`);
    expect(out.stdout).toContain("namespaces\ttest;other");
    const base = `http://127.0.0.1:${node.ready.httpPort}`;
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const cluster = (await (await fetch(`${base}/v1/cluster`)).json()) as { node: string; namespaces: unknown[] };
    expect(cluster.node).toBe(node.nodeId);
    expect(cluster.namespaces).toHaveLength(2);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^shoal_up\{.*\} 1$/m);
    expect(metrics).toMatch(/shoal_namespace_objects\{.*namespace="other"\} 0/);
    await node.stop();
  });

  it("help and version", async () => {
    const help = await runCli(["help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--service-port");
    expect(help.stdout).toContain("SHOAL_SEEDS");
    const version = await runCli(["version"]);
    expect(version.stdout).toMatch(/^shoal \d+\.\d+\.\d+/);
  });
});
