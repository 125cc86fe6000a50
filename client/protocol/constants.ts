/**
 * Wire constants of the Aerospike client protocol, defined once for server and client.
 *
 * Every number here is restated from the protocol reference (shared/protocol/aerospike-wire.md,
 * §1–§4); names follow the C client where it has one. Enumerations are `as const` objects with a
 * derived type so that a value can be both compared and named.
 */
import assert from "node:assert";

/** The proto header version every message carries (byte 0). */
export const PROTO_VERSION = 2;
/** Proto header length: version, type, 48-bit body size. */
export const PROTO_HEADER_BYTES = 8;
/** AS_MSG header length (header_sz). */
export const MSG_HEADER_BYTES = 22;
/** Largest body any Aerospike client accepts (PROTO_SIZE_MAX). */
export const PROTO_BODY_BYTES_MAX = 128 * 1024 * 1024;

export const ProtoType = {
  INFO: 1,
  ADMIN: 2,
  MSG: 3,
  MSG_COMPRESSED: 4,
} as const;
export type ProtoType = (typeof ProtoType)[keyof typeof ProtoType];

/** info1: read attributes. */
export const Info1 = {
  READ: 0x01,
  GET_ALL: 0x02,
  SHORT_QUERY: 0x04,
  BATCH: 0x08,
  XDR: 0x10,
  NOBINDATA: 0x20,
  READ_MODE_AP_ALL: 0x40,
  COMPRESS_RESPONSE: 0x80,
} as const;

/** info2: write attributes. */
export const Info2 = {
  WRITE: 0x01,
  DELETE: 0x02,
  GENERATION: 0x04,
  GENERATION_GT: 0x08,
  DURABLE_DELETE: 0x10,
  CREATE_ONLY: 0x20,
  RELAX_AP_LONG_QUERY: 0x40,
  RESPOND_ALL_OPS: 0x80,
} as const;

/** info3: misc attributes. */
export const Info3 = {
  LAST: 0x01,
  COMMIT_MASTER: 0x02,
  PARTITION_DONE: 0x04,
  UPDATE_ONLY: 0x08,
  CREATE_OR_REPLACE: 0x10,
  REPLACE_ONLY: 0x20,
  SC_READ_TYPE: 0x40,
  SC_READ_RELAX: 0x80,
} as const;

export const FieldType = {
  NAMESPACE: 0,
  SET: 1,
  KEY: 2,
  RECORD_VERSION: 3,
  DIGEST: 4,
  TXN_ID: 5,
  TXN_DEADLINE: 6,
  TASK_ID: 7,
  SOCKET_TIMEOUT: 9,
  RECORDS_PER_SECOND: 10,
  PID_ARRAY: 11,
  DIGEST_ARRAY: 12,
  MAX_RECORDS: 13,
  BVAL_ARRAY: 15,
  UDF_PACKAGE_NAME: 30,
  UDF_FUNCTION: 31,
  UDF_ARGLIST: 32,
  UDF_OP: 33,
  BATCH_INDEX: 41,
  BATCH_INDEX_WITH_SET: 42,
  FILTER_EXP: 43,
} as const;
export type FieldType = (typeof FieldType)[keyof typeof FieldType];

export const OpType = {
  READ: 1,
  WRITE: 2,
  CDT_READ: 3,
  CDT_MODIFY: 4,
  ADD: 5,
  EXP_READ: 7,
  EXP_MODIFY: 8,
  APPEND: 9,
  PREPEND: 10,
  TOUCH: 11,
  BITS_READ: 12,
  BITS_MODIFY: 13,
  DELETE: 14,
  HLL_READ: 15,
  HLL_MODIFY: 16,
} as const;
export type OpType = (typeof OpType)[keyof typeof OpType];

export const ParticleType = {
  NULL: 0,
  INTEGER: 1,
  DOUBLE: 2,
  STRING: 3,
  BLOB: 4,
  JAVA_BLOB: 7,
  CSHARP_BLOB: 8,
  PYTHON_BLOB: 9,
  RUBY_BLOB: 10,
  PHP_BLOB: 11,
  ERLANG_BLOB: 12,
  BOOL: 17,
  HLL: 18,
  MAP: 19,
  LIST: 20,
  GEOJSON: 23,
} as const;
export type ParticleType = (typeof ParticleType)[keyof typeof ParticleType];

/** Write TTL sentinels carried in record_ttl (as u32). */
export const TTL_NAMESPACE_DEFAULT = 0;
export const TTL_NEVER_EXPIRE = 0xffffffff;
export const TTL_DONT_UPDATE = 0xfffffffe;

/** Limits clients and servers agree on. */
export const BIN_NAME_BYTES_MAX = 15;
export const NAMESPACE_BYTES_MAX = 31;
export const SET_NAME_BYTES_MAX = 63;
export const DIGEST_BYTES = 20;
export const PARTITION_COUNT = 4096;

/** Seconds between the Unix epoch and the Citrusleaf epoch 2010-01-01T00:00:00Z. */
export const CITRUSLEAF_EPOCH_SEC = 1262304000;

assert((PARTITION_COUNT & (PARTITION_COUNT - 1)) === 0, "PARTITION_COUNT is a power of two");
assert(PROTO_BODY_BYTES_MAX < 2 ** 48, "body size fits the 48-bit size field");
