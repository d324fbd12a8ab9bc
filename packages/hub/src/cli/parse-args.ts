import { InvalidArgumentError } from 'commander';
import { FlotillaError } from '@flotilla/protocol';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `24h`, `7d` in milliseconds. */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  if (match === null)
    throw new FlotillaError(
      'CONFIG_INVALID',
      `${option} must be a number and a unit (s, m, h or d), such as 24h; received '${text}'`,
    );
  return Number(match[1]) * UNITS[match[2]!]!;
}

/** `key=value` pairs into an object; a pair without `=` is an error naming it. */
export function parseLabels(pairs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new FlotillaError('CONFIG_INVALID', `expected key=value, received '${pair}'`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

/**
 * An option's parser for a whole number from `min` to `max`: anything else is refused with a
 * message naming the option, the range and what was given (commander prints it as one line).
 *
 * @example .option('--limit <n>', 'at most this many', wholeNumber('--limit', 1, 1000), 100)
 */
export function wholeNumber(option: string, min: number, max: number): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\s*\d+\s*$/.test(text) || n < min || n > max)
      throw new InvalidArgumentError(`${option} must be a whole number from ${min} to ${max}; received '${text}'`);
    return n;
  };
}
