/**
 * Info protocol (proto type 1, §8): requests are '\n'-terminated ASCII commands; the reply echoes
 * each command, a TAB, its value and '\n', in request order. Values that are errors start with
 * "ERROR:<code>:<message>".
 */
import { ProtoType } from "./constants.js";
import { ProtocolError } from "./errors.js";
import { encodeFrame } from "./frame.js";

/** A complete info request frame for `commands` (each gets its '\n'). */
export function encodeInfoRequest(commands: readonly string[]): Buffer {
  for (const c of commands) {
    if (/[\n\t]/.test(c)) throw new ProtocolError(`info command ${JSON.stringify(c)} contains a newline or tab`);
  }
  return encodeFrame(ProtoType.INFO, Buffer.from(commands.map((c) => c + "\n").join(""), "latin1"));
}

/** The commands of a request body. An empty body (the deprecated summary request) gives []. */
export function decodeInfoRequest(body: Buffer): string[] {
  const text = body.toString("latin1");
  const parts = text.split("\n");
  // The server runs only '\n'-terminated commands; a trailing fragment is ignored, as SRV does.
  parts.pop();
  return parts.filter((p) => p.length > 0);
}

/** A complete info reply frame from [command, value] pairs. */
export function encodeInfoResponse(entries: ReadonlyArray<readonly [string, string]>): Buffer {
  let text = "";
  for (const [name, value] of entries) text += `${name}\t${value}\n`;
  return encodeFrame(ProtoType.INFO, Buffer.from(text, "latin1"));
}

/** A reply body as command → value (a line without a TAB maps to ""). */
export function decodeInfoResponse(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of body.toString("latin1").split("\n")) {
    if (line.length === 0) continue;
    const tab = line.indexOf("\t");
    if (tab < 0) out.set(line, "");
    else out.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return out;
}

/** "ERROR:<code>:<message>" as a value (code omitted for 1, as SRV does). */
export function infoError(code: number, message: string): string {
  return `ERROR:${code === 1 ? "" : code}:${message}`;
}
