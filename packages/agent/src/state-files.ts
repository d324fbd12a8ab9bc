import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { z } from 'zod';
import { FlotillaError, isFlotillaError, parseJson } from '@flotilla/protocol';

/** How {@link writeFileAtomic} writes. */
export interface AtomicWriteOptions {
  /** The file's mode; default 0600. */
  readonly mode?: number;
  /**
   * Whether the content must survive a power cut, not only a crash: the temporary file is
   * flushed (fsync) before the rename and the directory after it. Default true.
   */
  readonly durable?: boolean;
  /**
   * Whether to flush the directory after the rename, when durable; default true. A caller
   * writing many files in one directory flushes it once, with {@link syncDirectory}.
   */
  readonly syncDirectory?: boolean;
  /** Called with the temporary file written, before the rename: where a test kills the process. */
  readonly beforeRename?: () => void;
}

/**
 * Writes a file atomically: a temporary file beside it, then a rename, so a crash leaves
 * either the old content or the new, never half of one. Durable by default (write, fsync,
 * rename, fsync the directory), so a power cut does not take back what the agent relies on,
 * such as the record of an apply in progress or the report numbers used.
 */
export function writeFileAtomic(path: string, content: string, options: AtomicWriteOptions = {}): void {
  const durable = options.durable ?? true;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = join(dirname(path), `.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    const fd = openSync(temporary, 'w', options.mode ?? 0o600);
    try {
      writeSync(fd, content);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    options.beforeRename?.();
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  if (durable && (options.syncDirectory ?? true)) syncDirectory(dirname(path));
}

/** Flushes a directory's entries (files created, renamed, removed in it) to disk. */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes JSON with {@link writeFileAtomic}: durable unless `options.durable` is false. */
export function writeJsonAtomic(path: string, value: unknown, options: AtomicWriteOptions = {}): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, options);
}

/** Reads and validates a JSON state file; undefined when it does not exist. */
export function readJsonFile<S extends z.ZodType>(path: string, schema: S): z.infer<S> | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let value: unknown;
  try {
    value = parseJson(text, `state file ${path}`);
  } catch (error) {
    throw new FlotillaError(
      'CONFIG_INVALID',
      isFlotillaError(error, 'JSON_TOO_DEEP')
        ? `${error.message}; restore it from a backup or remove the state directory to enroll anew`
        : `state file ${path} is not valid JSON; restore it from a backup or remove the state directory to enroll anew`,
    );
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new FlotillaError(
      'CONFIG_INVALID',
      `state file ${path} does not have the expected shape; restore it or remove the state directory to enroll anew`,
    );
  return parsed.data;
}
