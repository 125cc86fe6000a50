/**
 * Event-loop turns for background work that goes in slices (migration streams: a chunk read of
 * up to ~1024 records, a partition scan for delta sums): `next()` resolves after every earlier
 * caller's, and once the waiters let through in one turn have used `budgetMs` between them, the
 * rest wait for the next turn, with the poll phase (sockets: client requests, heartbeats, acks)
 * between.
 *
 * However many streams resume at once (the 16 moves a recomputation starts; acks or delta replies
 * arriving in one read), the event loop is held for about one budget (or one slice, if longer)
 * before I/O gets its turn. A plain `setImmediate` per slice is not enough: immediates queued in
 * one turn all run in the next check phase, back to back. One waiter per turn is too little:
 * a restart's rebalance is thousands of near-empty delta moves of a few steps each, and at one
 * step per turn it took twice as long.
 */
export class Turns {
  private readonly waiting: Array<() => void> = [];

  /** @param budgetMs event-loop time the waiters of one turn may use before the rest wait (0: one per turn). */
  constructor(private readonly budgetMs = 3) {}

  /** Waiters not yet let through. */
  get pending(): number {
    return this.waiting.length;
  }

  next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (this.waiting.length === 1) setImmediate(() => this.release(performance.now()));
    });
  }

  private release(startMs: number): void {
    this.waiting.shift()?.();
    if (this.waiting.length === 0) return;
    // Queued after the resolved waiter's continuation: runs once its synchronous part is done.
    queueMicrotask(() => {
      if (this.waiting.length === 0) return;
      if (performance.now() - startMs < this.budgetMs) this.release(startMs);
      // Queued from within the check phase (or its microtasks): the next turn, after the poll phase.
      else setImmediate(() => this.release(performance.now()));
    });
  }
}
