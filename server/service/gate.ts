/**
 * A counting gate: at most `max` holders at once, the rest wait in arrival order.
 *
 * Used where work would otherwise pile into one queue whose every entry waits for the whole:
 * migration chunks arriving from many senders each enter LMDB's write queue, lmdb-js commits
 * everything queued in one batch, and a replica write (whose client waits) that lands behind
 * 48 chunks (~50k records) waits for all of them to commit.
 */
export class Gate {
  private holders = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`gate max must be a positive integer, got ${max}`);
  }

  /** Holders now, and callers waiting. */
  get active(): number {
    return this.holders;
  }
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `fn` once a place is free; the place is released when its promise settles. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.holders >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.holders++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the place passes on: holders unchanged
      else this.holders--;
    }
  }
}
