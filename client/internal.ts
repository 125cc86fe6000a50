/**
 * Internals of the client, exported for tests and for tools in this repository (bench, server
 * tests). Not a stable API: names here may change with the implementation.
 */
export * from "./index.js";
export { Connection, ABANDONED_MAX_DEFAULT } from "./connection.js";
export type { ConnectOptions, ConnectionOptions, ConnectionState } from "./connection.js";
export { NodePool, INFO_BODY_BYTES_MAX, formatHost } from "./node-pool.js";
export type { NodePoolOptions } from "./node-pool.js";
export {
  BITMAP_BASE64_CHARS, BITMAP_BYTES, NAMESPACES_MAX, PartitionTable, REPLICAS_MAX,
  bitmapHas, bitmapOf, encodeReplicas, parseReplicas,
} from "./partition-table.js";
export type { NamespaceClaim } from "./partition-table.js";
export { NODE_NAME_CHARS_MAX, SERVICE_PORT_DEFAULT, parseHosts, parsePeers } from "./peers.js";
export type { Peer, PeersReply } from "./peers.js";
export { Cluster, FAILURES_MAX, checkValidation, nodesToRemove } from "./cluster.js";
export type { ClusterEvent, ClusterOptions, TendView } from "./cluster.js";
export { executeCommand, isRetryable, realClock } from "./command-executor.js";
export type { CommandSpec, ExecutorClock, Router } from "./command-executor.js";
export {
  checkResult, existsMessage, getMessage, keyFields, operateAttributes, operateMessage, parseRecord,
  putMessage, removeMessage, resultError, touchMessage, ttlFromVoidTime,
} from "./command.js";
export { binParticle, validateBinName } from "./operations.js";
export { attemptTimeoutMs, resolvePolicies, resolveOperatePolicy, resolveReadPolicy, resolveWritePolicy, ttlToWire } from "./policy.js";
export { resolveClientConfig } from "./client.js";
export { describeResultCode, parameterError } from "./errors.js";
export { Fifo } from "./fifo.js";
