import { readFileSync } from 'node:fs';

/** File descriptors the hub keeps for itself (SQLite and its WAL, logs, keys, temporary files) beyond its connections. */
export const RESERVED_FDS = 512;

/**
 * This process's soft limit of open files, from `/proc/self/limits` (Linux); undefined where
 * that cannot be read or is unlimited.
 */
export function openFileLimit(
  read: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): number | undefined {
  let text: string;
  try {
    text = read('/proc/self/limits');
  } catch {
    return undefined;
  }
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (match === null || match[1] === 'unlimited') return undefined;
  return Number(match[1]);
}

/**
 * The most connections the hub should accept under an open-file limit: the limit less what the
 * hub needs for itself, so that running out refuses new connections instead of failing a
 * request that was already accepted (SQLite opening a file, say).
 */
export function connectionCap(limit: number | undefined): number | undefined {
  return limit === undefined ? undefined : Math.max(64, limit - RESERVED_FDS);
}
