/**
 * Event-loop delay of this node, for `statistics`, `/v1/cluster` and metrics: how long a ready
 * callback (a client request, a heartbeat) waited behind other work. Migrations chunk and yield
 * to keep it low; this is how we see that they do.
 *
 * Uses Node's `perf_hooks.monitorEventLoopDelay` (a native HDR histogram sampled every
 * RESOLUTION_MS). Figures are over the last completed window of WINDOW_MS, so a reading taken
 * during a rebalance shows the rebalance, not the whole uptime.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

const RESOLUTION_MS = 5;
const WINDOW_MS = 5000;

export class LoopDelay {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private readonly timer: NodeJS.Timeout;
  private last = { p50: 0, p99: 0, max: 0 };

  constructor() {
    this.histogram.enable();
    this.timer = setInterval(() => this.roll(), WINDOW_MS);
    this.timer.unref();
  }

  private roll(): void {
    const h = this.histogram;
    // Values are ns and include the sampling interval itself; report the excess over it in ms.
    const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);
    this.last = h.count > 0 ? { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) } : { p50: 0, p99: 0, max: 0 };
    h.reset();
  }

  counters(): Record<string, number> {
    return { event_loop_delay_p50_ms: this.last.p50, event_loop_delay_p99_ms: this.last.p99, event_loop_delay_max_ms: this.last.max };
  }

  close(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }
}
