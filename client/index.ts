/**
 * The public surface of the shoal client SDK (an Aerospike-protocol smart client).
 *
 * Everything a user needs: Client and its config, Key, operation builders, policies and their
 * defaults, typed errors, value wrappers (Double, GeoJSON) and result codes. Internals for tests
 * live in `internal.ts`; the wire codec is exported separately as "shoal/protocol".
 */
export { Client, CONNECT_TIMEOUT_MS_DEFAULT, INFO_TIMEOUT_MS_DEFAULT } from "./client.js";
export type { ClientConfig, ClientStatus } from "./client.js";
export type { ClusterHealth, NodeInfo } from "./cluster.js";
export { TEND_INTERVAL_MS_DEFAULT } from "./cluster.js";
export { IN_FLIGHT_PER_CONN_MAX_DEFAULT, MAX_CONNS_PER_NODE_DEFAULT, QUEUED_MAX_DEFAULT } from "./node-pool.js";
export type { Host } from "./node-pool.js";
export { Key } from "./key.js";
export type { UserKey } from "./key.js";
export { op } from "./operations.js";
export type { Operation, OperationKind } from "./operations.js";
export type { Bins, KvRecord, KvRecord as Record, WriteMeta } from "./command.js";
export {
  READ_MAX_RETRIES_DEFAULT,
  SLEEP_BETWEEN_RETRIES_MS_DEFAULT,
  SOCKET_TIMEOUT_MS_DEFAULT,
  TOTAL_TIMEOUT_MS_DEFAULT,
  WRITE_MAX_RETRIES_DEFAULT,
  defaultOperatePolicy,
  defaultPolicies,
  defaultReadPolicy,
  defaultWritePolicy,
} from "./policy.js";
export type {
  BasePolicy,
  CommitLevel,
  ExistsPolicy,
  GenerationPolicy,
  OperatePolicy,
  Policies,
  PoliciesInput,
  ReadPolicy,
  RemovePolicy,
  ReplicaPolicy,
  WritePolicy,
} from "./policy.js";
export {
  BinExistsError,
  BinNameError,
  ClientError,
  ClientResultCode,
  ConnectionError,
  DeviceOverloadError,
  GenerationError,
  IncompatibleTypeError,
  InvalidNodeError,
  KeyBusyError,
  KvError,
  NamespaceNotFoundError,
  ParameterError,
  PartitionUnavailableError,
  QueueFullError,
  RecordExistsError,
  RecordNotFoundError,
  RecordTooBigError,
  ServerError,
  ServerFullError,
  TimeoutError,
  fromResultCode,
} from "./errors.js";
export { Double, GeoJSON, ResultCode } from "./protocol/index.js";
export type { BinValue } from "./protocol/index.js";
