/**
 * Node identity: a 64-bit id, printed as uppercase hex without leading zeros (as Aerospike's
 * `node` info command prints it). Configured, or generated once and kept in `<dataDir>/node-id`
 * so that a restarted node comes back as itself with its data.
 *
 * A configured id that differs from the stored one wins and is written back: the operator asked
 * for it, and the data directory now belongs to that id.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export const NODE_ID_FILE = "node-id";

/** A random non-zero 64-bit id as hex (no leading zeros). */
export function randomNodeId(bytes: (n: number) => Buffer = crypto.randomBytes): string {
  for (;;) {
    const id = bytes(8).readBigUInt64BE(0);
    if (id !== 0n) return id.toString(16).toUpperCase();
  }
}

/** Loads, or creates and persists, the node id of `dataDir`. */
export function loadNodeId(dataDir: string, configured: string | undefined): string {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, NODE_ID_FILE);
  let stored: string | undefined;
  try {
    stored = fs.readFileSync(file, "utf8").trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (stored !== undefined && !/^[0-9A-F]{1,16}$/.test(stored)) {
    throw new Error(`${file} holds '${stored}', not a node id (1..16 uppercase hex digits); fix or delete it`);
  }
  const id = configured ?? stored ?? randomNodeId();
  if (id !== stored) {
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, id + "\n");
    fs.renameSync(tmp, file);
  }
  return id;
}
