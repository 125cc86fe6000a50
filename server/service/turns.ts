/**
 * One event-loop turn per waiter: `next()` resolves after every earlier caller's, each on a turn
 * of its own, with the poll phase (sockets: client requests, heartbeats, acks) between any two.
 *
 * Background work that goes in slices (migration chunks: a range read of ~1024 records each)
 * takes its slices through this, so that however many streams resume at once (the 16 moves a
 * recomputation starts; acks arriving in one read) the event loop is never held for more than
 * one slice. A plain `setImmediate` per slice is not enough: immediates queued in one turn all
 * run in the next check phase, back to back.
 */
export class Turns {
  private readonly waiting: Array<() => void> = [];

  /** Waiters not yet let through. */
  get pending(): number {
    return this.waiting.length;
  }

  next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (this.waiting.length === 1) setImmediate(() => this.release());
    });
  }

  private release(): void {
    this.waiting.shift()?.();
    // Queued from within the check phase, this runs on the next turn, after the poll phase.
    if (this.waiting.length > 0) setImmediate(() => this.release());
  }
}
