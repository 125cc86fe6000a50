/**
 * Timeout: a tick-counting timer as an immutable value, after tigerbeetle's `vsr.Timeout`.
 *
 * The core never reads a clock. The shell calls `step(state, {kind: "tick"})` every interval and
 * the state carries Timeouts that count those ticks: `tick()` advances one, `fired()` says the
 * deadline is reached, `backoff(rng)` re-arms with an exponentially growing, jittered deadline
 * (so that many nodes retrying at once spread out), `reset()` re-arms with the base deadline.
 *
 *     after ─────── base deadline in ticks (>= 1)
 *     afterMax ──── cap of the backoff window (>= after)
 *     current ───── this round's deadline: after, or after + jitter after backoff
 *     ticks ─────── ticks since (re)armed; fired() is ticking && ticks >= current
 *
 * Every method returns a new Timeout and leaves the receiver alone, so a Timeout can sit inside
 * a state value that `step` must not mutate.
 */
import assert from "node:assert/strict";
import type { Rng } from "./rng.js";

export class Timeout {
  private constructor(
    /** For logs and assertions. */
    readonly name: string,
    readonly after: number,
    readonly afterMax: number,
    readonly ticking: boolean,
    readonly ticks: number,
    readonly attempts: number,
    readonly current: number,
  ) {}

  /** A stopped timeout with a base deadline of `after` ticks, backing off up to `afterMax`. */
  static create(name: string, after: number, afterMax: number = after): Timeout {
    assert.ok(Number.isInteger(after) && after >= 1, `${name}: after must be an integer >= 1, got ${after}`);
    assert.ok(Number.isInteger(afterMax) && afterMax >= after, `${name}: afterMax must be an integer >= after (${after}), got ${afterMax}`);
    return new Timeout(name, after, afterMax, false, 0, 0, after);
  }

  /** Arms the timeout from zero with the base deadline. */
  start(): Timeout {
    return new Timeout(this.name, this.after, this.afterMax, true, 0, 0, this.after);
  }

  stop(): Timeout {
    return new Timeout(this.name, this.after, this.afterMax, false, 0, 0, this.after);
  }

  /** Re-arms a running timeout from zero with the base deadline, forgetting earlier backoffs. */
  reset(): Timeout {
    assert.ok(this.ticking, `${this.name}: reset() on a stopped timeout`);
    return this.start();
  }

  /** One tick passes; a stopped timeout does not count. */
  tick(): Timeout {
    if (!this.ticking) return this;
    return new Timeout(this.name, this.after, this.afterMax, true, this.ticks + 1, this.attempts, this.current);
  }

  fired(): boolean {
    return this.ticking && this.ticks >= this.current;
  }

  /** Ticks left until fired (0 once fired or when stopped). */
  remaining(): number {
    return this.ticking ? Math.max(0, this.current - this.ticks) : 0;
  }

  /**
   * Re-arms after a failed attempt: the next deadline is `after` plus a uniform jitter over a
   * window that doubles with each attempt, capped so the deadline never exceeds `afterMax`
   * ("full jitter", as tigerbeetle's exponential_backoff_with_jitter).
   */
  backoff(rng: Rng): Timeout {
    assert.ok(this.ticking, `${this.name}: backoff() on a stopped timeout`);
    const attempts = this.attempts + 1;
    const window = Math.min(this.afterMax - this.after, this.after * 2 ** Math.min(attempts, 30));
    const current = this.after + rng.int(window + 1);
    assert.ok(current >= this.after && current <= this.afterMax);
    return new Timeout(this.name, this.after, this.afterMax, true, 0, attempts, current);
  }
}
