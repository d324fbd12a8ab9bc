import { stringify } from 'yaml';
import { FlotillaError } from '@flotilla/protocol';

export type OutputFormat = 'table' | 'json' | 'yaml';

export function outputFormat(value: string | undefined): OutputFormat {
  if (value === undefined) return 'table';
  if (value === 'table' || value === 'json' || value === 'yaml') return value;
  throw new FlotillaError('CONFIG_INVALID', `-o must be table, json or yaml, received '${value}'`);
}

/** Prints a value as stable JSON or YAML, or as a table of the given columns. */
export function print(format: OutputFormat, value: unknown, table: () => string[][]): void {
  if (format === 'json') process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else if (format === 'yaml') process.stdout.write(stringify(value));
  else process.stdout.write(renderTable(table()));
}

/** Columns padded to their widest cell; the last column is cut to the terminal's width. */
export function renderTable(rows: string[][], width = process.stdout.columns ?? 120): string {
  if (rows.length === 0) return '';
  const columns = rows[0]!.length;
  const widths = Array.from({ length: columns }, (_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((row) => {
      const line = row.map((cell, c) => (c === columns - 1 ? cell : cell.padEnd(widths[c]!))).join('  ');
      return `${line.length > width ? `${line.slice(0, width - 1)}…` : line}\n`;
    })
    .join('');
}

export function ago(iso: string | null, now = Date.now()): string {
  if (iso === null) return 'never';
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}
