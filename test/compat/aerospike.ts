/**
 * Loads the official `aerospike` npm client (CommonJS with a native binding) from ESM tests,
 * typed loosely: tests use it the way an application would.
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const Aerospike: any = require("aerospike");

/** Connects the official client to one node, quietly. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function officialClient(port: number, extra: object = {}): Promise<any> {
  return Aerospike.connect({
    hosts: [{ addr: "127.0.0.1", port }],
    log: { level: Aerospike.log.OFF },
    ...extra,
  });
}
