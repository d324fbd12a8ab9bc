import type { Logger } from 'pino';

export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  readonly level: string;
  /** Default: pretty when standard output is a terminal, JSON lines otherwise. */
  readonly format?: LogFormat | undefined;
  readonly redact?: readonly string[];
}

/**
 * The process's root logger: JSON lines for collectors, or for a person at a terminal the
 * same records as readable lines (pino-pretty, in this thread, writing synchronously so
 * nothing is lost when the process exits right after a line).
 */
export async function createLogger(options: LoggerOptions): Promise<Logger> {
  const format = options.format ?? (process.stdout.isTTY === true ? 'pretty' : 'json');
  const settings = { level: options.level, redact: [...(options.redact ?? [])] };
  // Loaded here, not with the package: the hub's CLI uses this package for its usage errors
  // and starts without pino. Its default export, as pino-pretty's below: a bundle that splits
  // lazily loaded CommonJS modules into chunks gives them no named exports.
  const { default: pino } = await import('pino');
  if (format === 'json') return pino(settings);
  const { default: pretty } = await import('pino-pretty');
  return pino(
    settings,
    pretty({
      sync: true,
      colorize: process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
    }),
  );
}
