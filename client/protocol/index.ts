/**
 * The wire codec shared by server and client: framing, AS_MSG, particles, Aerospike msgpack,
 * info, digest and result codes. Import from here.
 */
export * from "./constants.js";
export * from "./result-code.js";
export * from "./errors.js";
export * from "./frame.js";
export * from "./message.js";
export * from "./msgpack.js";
export * from "./particle.js";
export * from "./digest.js";
export * from "./info.js";
