import { setTimeout as sleep } from 'node:timers/promises';
import { FlotillaError, isFlotillaError } from '@flotilla/protocol';
import type { OutputFormat } from './output.ts';
import { renderTable } from './output.ts';
import { parseDuration } from './parse-args.ts';

/** One row of a watched listing. */
export interface WatchedRow {
  /** What identifies the row from one listing to the next (an id). */
  readonly key: string;
  readonly cells: readonly string[];
  /** What counts as a change, when some cells move by themselves (an age); default the cells. */
  readonly signature?: string;
}

/** One listing of a watched table. */
export interface TableSnapshot {
  readonly header: readonly string[];
  readonly rows: readonly WatchedRow[];
  /** Warnings from the hub, printed to stderr once each. */
  readonly notes?: readonly string[];
}

export interface WatchOptions {
  readonly everyMs: number;
  /** A terminal redraws in place; anything else gets the first listing, then changed rows as lines. */
  readonly tty: boolean;
  readonly write: (text: string) => void;
  readonly warn: (text: string) => void;
  /** The title of the redrawn screen, such as `flotilla targets ls`. */
  readonly title: string;
  /** Rows a terminal has room for; default its height. */
  readonly rows?: number;
  /** Waits between listings; tests pass their own. */
  readonly sleep?: (ms: number) => Promise<unknown>;
  /** The time shown on a terminal; tests pass their own. */
  readonly now?: () => Date;
}

/**
 * The watch flags of a listing command: `-w` draws tables only, so `-o json|yaml` is refused
 * with what to do instead, and the interval is read once.
 */
export function watchOptions(
  flags: { interval: string },
  format: OutputFormat,
  title: string,
): Pick<WatchOptions, 'everyMs' | 'tty' | 'write' | 'warn' | 'title'> {
  if (format !== 'table')
    throw new FlotillaError(
      'CONFIG_INVALID',
      `--watch draws a table; leave out -o ${format}, or run without --watch for one ${format} listing`,
    );
  const everyMs = parseDuration(flags.interval, '--interval');
  if (everyMs < 1000)
    throw new FlotillaError('CONFIG_INVALID', `--interval must be at least 1s; received '${flags.interval}'`);
  return {
    everyMs,
    tty: process.stdout.isTTY === true,
    write: (text) => process.stdout.write(text),
    warn: (text) => process.stderr.write(text),
    title,
  };
}

function signatureOf(row: WatchedRow): string {
  return row.signature ?? row.cells.join('\u0000');
}

/**
 * Lists again every `everyMs` until the process is stopped. On a terminal the screen is
 * redrawn in place, as watch(1) does. Piped, the first listing is printed whole and then each
 * row that appeared or changed is printed again as a line, and a row that went away as
 * `KEY (gone)`, so a log or `grep` sees every change once. A hub that cannot be reached is
 * reported and asked again; any other error ends the watch.
 */
export async function watchTable(list: () => Promise<TableSnapshot>, options: WatchOptions): Promise<void> {
  const wait = options.sleep ?? sleep;
  const now = options.now ?? (() => new Date());
  const seen = new Map<string, string>();
  const noted = new Set<string>();
  let first = true;
  for (;;) {
    let snapshot: TableSnapshot;
    try {
      snapshot = await list();
    } catch (error) {
      if (!isFlotillaError(error, 'HUB_UNAVAILABLE')) throw error;
      options.warn(`warning: ${error.message}; trying again in ${options.everyMs / 1000}s\n`);
      await wait(options.everyMs);
      continue;
    }
    for (const note of snapshot.notes ?? []) {
      if (!noted.has(note)) options.warn(`warning: ${note}\n`);
      noted.add(note);
    }
    const lines = renderTable([[...snapshot.header], ...snapshot.rows.map((r) => [...r.cells])]).split('\n');
    if (options.tty) {
      const room = Math.max(3, (options.rows ?? process.stdout.rows ?? 40) - 3);
      const shown = lines.slice(0, -1);
      const cut = shown.length > room ? [...shown.slice(0, room - 1), `… ${shown.length - room + 1} more`] : shown;
      options.write(
        `\x1b[H\x1b[2J${options.title}: every ${options.everyMs / 1000}s, ${now().toTimeString().slice(0, 8)}\n\n${cut.join('\n')}\n`,
      );
    } else if (first) {
      options.write(lines.join('\n'));
    } else {
      const now = new Set<string>();
      snapshot.rows.forEach((row, i) => {
        now.add(row.key);
        if (seen.get(row.key) !== signatureOf(row)) options.write(`${lines[i + 1]}\n`);
      });
      for (const key of seen.keys()) if (!now.has(key)) options.write(`${key} (gone)\n`);
    }
    seen.clear();
    for (const row of snapshot.rows) seen.set(row.key, signatureOf(row));
    first = false;
    await wait(options.everyMs);
  }
}
