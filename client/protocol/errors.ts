/**
 * Typed errors carrying result codes, shared by server and client.
 *
 * `KvError` is the one error type crossing module boundaries: `code` is a ResultCode (wire code,
 * or a negative client-only code), `inDoubt` is true when a write may have been applied although
 * it failed (a timeout after sending, a connection lost mid-request). `ProtocolError` marks input
 * that does not parse: the receiver answers PARAMETER where it can, or closes the connection.
 */
import { ResultCode, resultCodeName } from "./result-code.js";

export class KvError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly inDoubt = false,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** "NOT_FOUND" etc. */
  get codeName(): string {
    return resultCodeName(this.code);
  }
}

/** Malformed or oversized wire input. `fatal` means the byte stream cannot be resynchronised. */
export class ProtocolError extends KvError {
  constructor(
    message: string,
    readonly fatal = false,
    code: number = ResultCode.PARAMETER,
  ) {
    super(code, message);
  }
}
