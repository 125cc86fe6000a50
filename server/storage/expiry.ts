/**
 * ExpirySweeper: the shell that reclaims expired records in the background.
 *
 * Concept: expiry itself is a pure rule (`isExpired(voidTime, nowMs)`) applied by every read, so
 * an expired record is invisible at once; the sweeper only gives the space back. It owns one
 * timer and, on each tick, asks every store to remove up to `batchLimit` expired records
 * (`RecordStore.sweepExpired`, which resumes where its previous call stopped, so a large store is
 * covered over several ticks without one long pause).
 *
 *   start() ──► tick ──► sweepExpired(store₁) … sweepExpired(storeₙ) ──► schedule next tick
 *                 ▲                                                           │
 *                 └─────────────────────── intervalMs ◄───────────────────────┘
 *
 * Invariants:
 * - Ticks never overlap: the next timer is armed only after the current tick settled, and
 *   `sweepOnce` queues behind a running tick.
 * - The timer never keeps the process alive (`unref`), and `close()` clears it and waits for the
 *   tick in flight, once (idempotent); after close no new tick starts.
 * - A failing store does not stop the others or later ticks: its error goes to `onError`.
 *
 * Why a class with a timer here and not in server/core: the rule is pure and lives with the
 * records; what remains is scheduling, which is the shell's job (STYLE §2). Time comes in as
 * `now()`, so tests drive the sweep with a fake clock and `sweepOnce()`.
 */
import assert from "node:assert";
import { RecordStore } from "./record-store.js";

/** Options of `ExpirySweeper`. */
export interface ExpirySweeperOptions {
  /** The stores to sweep, read on every tick (namespaces may be added while running). */
  readonly stores: () => readonly RecordStore[];
  /** Pause between the end of one tick and the start of the next. */
  readonly intervalMs: number;
  /** Records each store may remove per tick (bounds the write transaction and the pause). */
  readonly batchLimit: number;
  /** Wall clock, ms since the Unix epoch (Date.now in production, a fake clock in tests). */
  readonly now: () => number;
  /** Receives a store's sweep failure. @default process.emitWarning */
  readonly onError?: (err: unknown) => void;
}

/** Lifecycle of a sweeper: created, ticking, or closed for good. */
export type SweeperState = "idle" | "running" | "closed";

function defaultOnError(err: unknown): void {
  process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: "SHOAL_EXPIRY_SWEEP" });
}

export class ExpirySweeper {
  private readonly opts: ExpirySweeperOptions;
  private readonly onError: (err: unknown) => void;
  private timer: NodeJS.Timeout | undefined = undefined;
  /** The tick in flight (or the last one); every sweep chains onto it, so none overlap. */
  private tail: Promise<number> = Promise.resolve(0);
  private stateValue: SweeperState = "idle";
  private closing: Promise<void> | undefined = undefined;
  private removedTotal = 0;

  constructor(opts: ExpirySweeperOptions) {
    assert(Number.isInteger(opts.intervalMs) && opts.intervalMs >= 1,
      `expiry intervalMs must be a positive integer, got ${opts.intervalMs}`);
    assert(Number.isInteger(opts.batchLimit) && opts.batchLimit >= 1,
      `expiry batchLimit must be a positive integer, got ${opts.batchLimit}`);
    this.opts = opts;
    this.onError = opts.onError ?? defaultOnError;
  }

  get state(): SweeperState {
    return this.stateValue;
  }

  /** Records removed since construction (for metrics). */
  get removed(): number {
    return this.removedTotal;
  }

  /** Starts ticking every `intervalMs`. Calling it again, or after close, does nothing. */
  start(): void {
    if (this.stateValue !== "idle") return;
    this.stateValue = "running";
    this.schedule();
  }

  /**
   * One sweep of every store now (after any tick in flight); resolves with the records removed.
   * Store failures go to `onError` and count as zero.
   */
  sweepOnce(): Promise<number> {
    assert(this.stateValue !== "closed", "ExpirySweeper.sweepOnce called after close");
    const run = (): Promise<number> => this.sweepStores();
    const next = this.tail.then(run, run); // a failed tick (a throwing onError) must not stall the chain
    this.tail = next;
    return next;
  }

  /** Stops the timer and waits for the tick in flight. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stateValue = "closed";
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      await this.tail.catch(() => undefined); // its failure was already reported to its caller
    })();
    return this.closing;
  }

  private schedule(): void {
    if (this.stateValue !== "running") return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stateValue !== "running") return;
      // sweepStores reports store failures itself; only a throwing onError rejects, and that
      // programmer error should surface as an unhandled rejection, after re-arming the timer.
      void this.sweepOnce().then(() => this.schedule(), (err: unknown) => {
        this.schedule();
        throw err;
      });
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  /** Never rejects: each store's failure is reported and the others still run. */
  private async sweepStores(): Promise<number> {
    let removed = 0;
    let stores: readonly RecordStore[];
    try {
      stores = this.opts.stores();
    } catch (err) {
      this.onError(err);
      return 0;
    }
    for (const store of stores) {
      try {
        removed += await store.sweepExpired(this.opts.now(), this.opts.batchLimit);
      } catch (err) {
        this.onError(err);
      }
    }
    this.removedTotal += removed;
    return removed;
  }
}
