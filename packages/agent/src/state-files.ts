import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { z } from 'zod';
import { FlotillaError, isFlotillaError, parseJson } from '@flotilla/protocol';

/**
 * Writes a file atomically: a temporary file beside it, then a rename, so a crash leaves
 * either the old content or the new, never half of one.
 */
export function writeFileAtomic(path: string, content: string, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = join(dirname(path), `.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    writeFileSync(temporary, content, { mode });
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
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
