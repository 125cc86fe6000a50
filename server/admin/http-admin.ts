/**
 * HTTP admin: `/health` (200 when serving), `/v1/cluster` (JSON: node, cluster, namespaces,
 * counters) and `/metrics` (Prometheus text exposition of the same counters).
 *
 * Read-only and cheap: every answer is computed from the node's counters on request. The
 * metrics are written in the exposition format directly; there are a dozen gauges/counters and
 * no histograms yet, so a client library would add nothing but a dependency (revisit when
 * latency histograms arrive).
 */
import http from "node:http";
import type net from "node:net";

export interface AdminSnapshot {
  readonly node: string;
  readonly clusterName: string;
  readonly clusterSize: number;
  readonly version: string;
  readonly uptimeSec: number;
  readonly namespaces: ReadonlyArray<{ name: string; objects: number; replicationFactor: number; storage: string }>;
  readonly counters: Readonly<Record<string, number>>;
  /** Members of the installed cluster. */
  readonly members?: readonly string[];
  /** Migration state per namespace (ownership summary) and totals. */
  readonly migrations?: Readonly<Record<string, unknown>>;
}

export class HttpAdmin {
  private readonly server: http.Server;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly snapshot: () => AdminSnapshot,
  ) {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 10_000;
    this.server.maxConnections = 256;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host: this.host, port: this.port }, () => {
        this.server.off("error", reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "method not allowed\n");
    switch (url) {
      case "/health":
        return send(res, 200, "application/json", JSON.stringify({ status: "ok" }) + "\n");
      case "/v1/cluster":
        return send(res, 200, "application/json", JSON.stringify(this.snapshot(), null, 2) + "\n");
      case "/metrics":
        return send(res, 200, "text/plain; version=0.0.4", metricsText(this.snapshot()));
      default:
        return send(res, 404, "text/plain", "not found\n");
    }
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Prometheus text: `shoal_<counter>` plus per-namespace object gauges. */
export function metricsText(s: AdminSnapshot): string {
  const lines: string[] = [];
  const label = `node="${s.node}",cluster="${s.clusterName}"`;
  lines.push("# TYPE shoal_up gauge", `shoal_up{${label}} 1`);
  lines.push("# TYPE shoal_cluster_size gauge", `shoal_cluster_size{${label}} ${s.clusterSize}`);
  lines.push("# TYPE shoal_uptime_seconds gauge", `shoal_uptime_seconds{${label}} ${s.uptimeSec}`);
  for (const [name, value] of Object.entries(s.counters)) {
    const metric = `shoal_${name.replace(/[^a-zA-Z0-9_]/g, "_")}`;
    lines.push(`# TYPE ${metric} ${name.endsWith("_total") ? "counter" : "gauge"}`, `${metric}{${label}} ${value}`);
  }
  lines.push("# TYPE shoal_namespace_objects gauge");
  for (const ns of s.namespaces) lines.push(`shoal_namespace_objects{${label},namespace="${ns.name}"} ${ns.objects}`);
  return lines.join("\n") + "\n";
}
