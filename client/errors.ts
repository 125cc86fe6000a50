/**
 * Client errors: one class per result code a caller may want to catch, all built in one place.
 *
 * Concept: the server sends a numeric result code (§7 of the protocol reference); the client adds
 * negative client-only codes (C `as_status.h`). `fromResultCode(code, message, inDoubt, options)`
 * is the ONLY function that turns a code into an error object, so every path (server reply,
 * client timeout, lost connection, bad argument) yields the same class for the same code, and
 * nothing ever parses message text.
 *
 * Invariants:
 * - `err.code` is the result code, `err.name` the class name (stable: set explicitly, not taken
 *   from a possibly minified constructor), `err.inDoubt` is true only when a write may have been
 *   applied (it was sent and no definitive answer came back), `err.cause` chains the lower error.
 * - Every class extends `KvError` from the protocol module, so `instanceof KvError` catches all.
 *
 *   KvError ─┬─ RecordNotFoundError (2)      ├─ TimeoutError (9, server or client)
 *            ├─ GenerationError (3)          ├─ PartitionUnavailableError (11)
 *            ├─ ParameterError (4, -2)       ├─ RecordTooBigError (13) ...
 *            ├─ RecordExistsError (5)        └─ ConnectionError (-10), QueueFullError (-11) ...
 */
import { KvError, ProtocolError, ResultCode } from "./protocol/index.js";

export { KvError, ProtocolError };

/**
 * Client-only codes that the protocol's ResultCode table does not list (C `as_status.h`).
 * They never go on the wire.
 */
export const ClientResultCode = {
  INVALID_HOST: -4,
  CLIENT_ABORT: -5,
  NO_MORE_CONNECTIONS: -7,
  ASYNC_QUEUE_FULL: -11,
} as const;

/** The record does not exist (get, remove, touch, update-only and replace-only writes). */
export class RecordNotFoundError extends KvError {
  override name = "RecordNotFoundError";
}
/** The generation check of a write failed (generationPolicy 'eq' or 'gt'). */
export class GenerationError extends KvError {
  override name = "GenerationError";
}
/** A bad argument: rejected by the client (-2) or by the server (4). */
export class ParameterError extends KvError {
  override name = "ParameterError";
}
/** A create-only write found the record already there. */
export class RecordExistsError extends KvError {
  override name = "RecordExistsError";
}
/** The bin already exists (server code 6). */
export class BinExistsError extends KvError {
  override name = "BinExistsError";
}
/** The server is out of space (8). */
export class ServerFullError extends KvError {
  override name = "ServerFullError";
}
/** No answer within the timeout: either the server's transaction timer or the client's. */
export class TimeoutError extends KvError {
  override name = "TimeoutError";
}
/** The partition is not available on that node right now (11); retried on another replica. */
export class PartitionUnavailableError extends KvError {
  override name = "PartitionUnavailableError";
}
/** An operation does not fit the bin's type (12). */
export class IncompatibleTypeError extends KvError {
  override name = "IncompatibleTypeError";
}
/** The record is larger than the namespace allows (13). */
export class RecordTooBigError extends KvError {
  override name = "RecordTooBigError";
}
/** Too many concurrent writes to one record (14). */
export class KeyBusyError extends KvError {
  override name = "KeyBusyError";
}
/** The node's storage cannot keep up (18); retried on another replica. */
export class DeviceOverloadError extends KvError {
  override name = "DeviceOverloadError";
}
/** The namespace is not configured on the cluster (20). */
export class NamespaceNotFoundError extends KvError {
  override name = "NamespaceNotFoundError";
}
/** The bin name is invalid (21) — over 15 bytes, or too many bins. */
export class BinNameError extends KvError {
  override name = "BinNameError";
}
/** The TCP connection failed, closed, or its byte stream became unreadable (-10). */
export class ConnectionError extends KvError {
  override name = "ConnectionError";
}
/** No node can serve the request: the cluster is empty or unreachable (-8). */
export class InvalidNodeError extends KvError {
  override name = "InvalidNodeError";
}
/** A node's queue of requests waiting for a connection is full (-11). */
export class QueueFullError extends KvError {
  override name = "QueueFullError";
}
/** A reply the client could not interpret, or another client-side failure (-1). */
export class ClientError extends KvError {
  override name = "ClientError";
}
/** Any other server result code. `code` tells which. */
export class ServerError extends KvError {
  override name = "ServerError";
}

type KvErrorClass = new (code: number, message: string, inDoubt?: boolean, options?: ErrorOptions) => KvError;

const CLASSES = new Map<number, KvErrorClass>([
  [ResultCode.NOT_FOUND, RecordNotFoundError],
  [ResultCode.GENERATION, GenerationError],
  [ResultCode.PARAMETER, ParameterError],
  [ResultCode.PARAMETER_CLIENT, ParameterError],
  [ResultCode.RECORD_EXISTS, RecordExistsError],
  [ResultCode.BIN_EXISTS, BinExistsError],
  [ResultCode.SERVER_FULL, ServerFullError],
  [ResultCode.TIMEOUT, TimeoutError],
  [ResultCode.UNAVAILABLE, PartitionUnavailableError],
  [ResultCode.INCOMPATIBLE_TYPE, IncompatibleTypeError],
  [ResultCode.RECORD_TOO_BIG, RecordTooBigError],
  [ResultCode.KEY_BUSY, KeyBusyError],
  [ResultCode.DEVICE_OVERLOAD, DeviceOverloadError],
  [ResultCode.NAMESPACE_NOT_FOUND, NamespaceNotFoundError],
  [ResultCode.BIN_NAME, BinNameError],
  [ResultCode.CONNECTION, ConnectionError],
  [ResultCode.INVALID_NODE, InvalidNodeError],
  [ClientResultCode.ASYNC_QUEUE_FULL, QueueFullError],
  [ResultCode.CLIENT_ERROR, ClientError],
]);

/**
 * The one place a result code becomes an error. Unknown non-negative codes give ServerError,
 * unknown negative ones ClientError; `code` is always preserved.
 */
export function fromResultCode(code: number, message: string, inDoubt = false, options?: ErrorOptions): KvError {
  const Class = CLASSES.get(code) ?? (code < 0 ? ClientError : ServerError);
  return new Class(code, message, inDoubt, options);
}

/** A client-side argument error (code -2). */
export function parameterError(message: string, options?: ErrorOptions): KvError {
  return fromResultCode(ResultCode.PARAMETER_CLIENT, message, false, options);
}

/** Result codes a caller asked about by name, for `switch` statements on `err.code`. */
export { ResultCode };

const DESCRIPTIONS = new Map<number, string>([
  [ResultCode.SERVER_ERROR, "server error"],
  [ResultCode.NOT_FOUND, "record not found"],
  [ResultCode.GENERATION, "generation mismatch: the record changed since it was read; re-read it and retry"],
  [ResultCode.PARAMETER, "the server rejected a parameter of the request"],
  [ResultCode.RECORD_EXISTS, "record already exists (write policy exists: 'createOnly')"],
  [ResultCode.BIN_EXISTS, "bin already exists"],
  [ResultCode.CLUSTER_KEY_MISMATCH, "cluster changed during the request"],
  [ResultCode.SERVER_FULL, "server out of space"],
  [ResultCode.TIMEOUT, "server timeout: the transaction did not finish within the policy's timeout"],
  [ResultCode.UNAVAILABLE, "partition unavailable on this node"],
  [ResultCode.INCOMPATIBLE_TYPE, "operation not applicable to the bin's type"],
  [ResultCode.RECORD_TOO_BIG, "record too big for the namespace's record size limit"],
  [ResultCode.KEY_BUSY, "record busy: too many concurrent writes to this key"],
  [ResultCode.DEVICE_OVERLOAD, "device overload: the node's storage cannot keep up"],
  [ResultCode.KEY_MISMATCH, "key mismatch: the stored user key differs"],
  [ResultCode.NAMESPACE_NOT_FOUND, "namespace not found on the cluster: check the key's namespace name"],
  [ResultCode.BIN_NAME, "invalid bin name (at most 15 bytes)"],
  [ResultCode.FORBIDDEN, "operation forbidden"],
  [ResultCode.UNSUPPORTED_FEATURE, "feature not supported by the server"],
  [ResultCode.FILTERED_OUT, "record filtered out"],
]);

/** A human description of a server result code (for messages only; never parsed back). */
export function describeResultCode(code: number): string {
  return DESCRIPTIONS.get(code) ?? `server result code ${code}`;
}
