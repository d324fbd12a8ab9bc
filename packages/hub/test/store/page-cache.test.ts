import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type Database from 'better-sqlite3';
import { openDatabase } from '../../src/store/database.ts';

let dir: string | undefined;
let db: Database.Database | undefined;

afterEach(() => {
  db?.close();
  db = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('the hub database’s memory', () => {
  it('caches at most 16 MiB of pages and reads the file through a memory map of up to 1 GiB', () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-page-cache-'));
    db = openDatabase(join(dir, 'hub.db'));
    expect(db.pragma('cache_size', { simple: true })).toBe(-16 * 1024);
    expect(db.pragma('mmap_size', { simple: true })).toBe(2 ** 30);
  });
});
