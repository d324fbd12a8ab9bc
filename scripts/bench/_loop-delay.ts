import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** How often the histogram samples the event loop. */
const RESOLUTION_MS = 10;

/**
 * The event loop's delay as the benchmarks report it: how late a timer due every
 * {@link RESOLUTION_MS} fired, at worst. `monitorEventLoopDelay` records the whole interval
 * between two samples, the resolution included (an idle loop's smallest value is 10 ms, and one
 * turn that blocked 80 ms reads up to 90 on Node 20), so the worst interval less the resolution
 * is the worst lateness: what `BENCH_HUB_LOOPLOG`'s timer, due every millisecond, also reports.
 */
export class LoopDelay {
  private histogram: IntervalHistogram = LoopDelay.started();

  /** The worst delay since this was made or last restarted, in ms. */
  worstMs(): number {
    return Math.max(0, this.histogram.max / 1e6 - RESOLUTION_MS);
  }

  /** Starts a new window. */
  restart(): void {
    this.histogram.disable();
    this.histogram = LoopDelay.started();
  }

  private static started(): IntervalHistogram {
    const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    histogram.enable();
    return histogram;
  }
}
