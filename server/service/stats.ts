/**
 * Service counters, read by the `statistics` info command and the HTTP admin. Plain numbers on
 * one object owned by the node: incremented on the hot path, never reset.
 */
export class ServiceStats {
  readonly startedMs: number;
  clientConnectionsOpened = 0;
  clientConnectionsClosed = 0;
  clientConnectionsRefused = 0;
  infoRequests = 0;
  reads = 0;
  readsNotFound = 0;
  writes = 0;
  deletes = 0;
  operates = 0;
  errors = 0;
  protocolErrors = 0;
  proxies = 0;
  proxyFailures = 0;
  /** Requests answered TIMEOUT unrun: their transaction_ttl passed while they waited. */
  expired = 0;
  replicaWrites = 0;
  replicaWriteFailures = 0;
  /** Records resolved against other copies because their partition was merging. */
  dupResolutions = 0;
  /** Count per result code of failed transactions. */
  readonly errorsByCode = new Map<number, number>();

  constructor(nowMs: number) {
    this.startedMs = nowMs;
  }

  get clientConnections(): number {
    return this.clientConnectionsOpened - this.clientConnectionsClosed;
  }

  recordError(code: number): void {
    this.errors++;
    this.errorsByCode.set(code, (this.errorsByCode.get(code) ?? 0) + 1);
  }
}
