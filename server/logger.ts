/**
 * Structured logging: pino (JSON lines, cheap when a level is off) writing to stderr, so that
 * stdout carries only the machine-readable "ready" line. Each module takes a child logger
 * scoped with `{ module }` (STYLE §6).
 */
import { pino, Logger } from "pino";
import type { LogLevel } from "./config.js";

export type { Logger };

export function createLogger(level: LogLevel, base: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { ...base } }, pino.destination({ fd: 2, sync: false }));
}
