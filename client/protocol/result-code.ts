/**
 * Result codes: one byte on the wire from the server; negative values are client-only (as in the
 * C client's as_status.h). Defined once; errors carry these codes, never parsed message text.
 */

export const ResultCode = {
  // client-only
  CLIENT_ERROR: -1,
  PARAMETER_CLIENT: -2,
  INVALID_NODE: -8,
  CONNECTION: -10,
  MAX_RETRIES_EXCEEDED: -12,
  NO_RESPONSE: -15,
  // server
  OK: 0,
  SERVER_ERROR: 1,
  NOT_FOUND: 2,
  GENERATION: 3,
  PARAMETER: 4,
  RECORD_EXISTS: 5,
  BIN_EXISTS: 6,
  CLUSTER_KEY_MISMATCH: 7,
  SERVER_FULL: 8,
  TIMEOUT: 9,
  UNAVAILABLE: 11,
  INCOMPATIBLE_TYPE: 12,
  RECORD_TOO_BIG: 13,
  KEY_BUSY: 14,
  SCAN_ABORT: 15,
  UNSUPPORTED_FEATURE: 16,
  BIN_NOT_FOUND: 17,
  DEVICE_OVERLOAD: 18,
  KEY_MISMATCH: 19,
  NAMESPACE_NOT_FOUND: 20,
  BIN_NAME: 21,
  FORBIDDEN: 22,
  ELEMENT_NOT_FOUND: 23,
  ELEMENT_EXISTS: 24,
  ENTERPRISE_ONLY: 25,
  OP_NOT_APPLICABLE: 26,
  FILTERED_OUT: 27,
  SECURITY_NOT_SUPPORTED: 51,
  SECURITY_NOT_ENABLED: 52,
  INVALID_COMMAND: 54,
  INVALID_FIELD: 55,
  UDF_EXECUTION: 100,
  BATCH_DISABLED: 150,
  BATCH_MAX_REQUESTS: 151,
  BATCH_QUEUES_FULL: 152,
} as const;
export type ResultCode = (typeof ResultCode)[keyof typeof ResultCode];

const NAMES = new Map<number, string>(Object.entries(ResultCode).map(([k, v]) => [v, k]));

/** The symbolic name of a code, or "RESULT_<n>" for one this table does not know. */
export function resultCodeName(code: number): string {
  return NAMES.get(code) ?? `RESULT_${code}`;
}

/** Codes a client may retry on another replica (C as_command_execute). */
export function isRetryableResult(code: number): boolean {
  return code === ResultCode.UNAVAILABLE || code === ResultCode.DEVICE_OVERLOAD || code === ResultCode.TIMEOUT;
}
