import { constants } from 'node:os';
import type { Logger } from 'pino';

/**
 * A signal this soon after the first is the same one delivered twice: a terminal's Ctrl-C goes
 * to the whole process group, so under `npm start` the hub gets it from the terminal and again
 * from npm, which forwards it.
 */
const SAME_SIGNAL_MS = 500;

/**
 * Stops the process cleanly on the first SIGINT or SIGTERM, and at once on the next one: a
 * process manager (or a person pressing Ctrl-C twice) that will not wait gets its way. Exits
 * 0 after a clean stop, 1 when stopping failed, and 128 + the signal's number when forced.
 */
export function stopOnSignals(stop: () => Promise<void>, log: Logger): void {
  let stoppingSince: number | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stoppingSince !== undefined) {
      if (Date.now() - stoppingSince < SAME_SIGNAL_MS) return;
      log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(128 + constants.signals[signal]);
    }
    stoppingSince = Date.now();
    log.info({ signal }, 'stopping; send the signal again to exit at once');
    stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
