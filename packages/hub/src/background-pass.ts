/**
 * Background work that runs one pass at a time (a report prune, giving free pages back): a pass
 * asked for while one is under way joins it; a timer, which does not keep the process alive,
 * asks now and then every interval; closing stops the timer and waits for the pass under way,
 * which sees {@link stopping} and ends after its current step.
 */
export class BackgroundPass<T> {
  private readonly pass: () => Promise<T>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;
  private closing = false;

  constructor(pass: () => Promise<T>) {
    this.pass = pass;
  }

  /** Whether {@link close} was called: a pass ends after its current step. */
  get stopping(): boolean {
    return this.closing;
  }

  /** Whether a pass is under way. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Runs a pass now, or joins the one under way. */
  run(): Promise<T> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Calls `tick` now and then every `everyMs`, replacing an earlier timer; a start after {@link close} runs again. */
  every(everyMs: number, tick: () => void): void {
    this.closing = false;
    clearInterval(this.timer);
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
    tick();
  }

  /** Stops the timer and waits for the pass under way, whatever it ends in. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }
}
