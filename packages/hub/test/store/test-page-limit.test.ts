import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serveConfig } from '../../src/config.ts';
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

describe('the test-only page limit on the hub database', () => {
  it('makes a write that needs a page beyond the limit fail with SQLITE_FULL from SQLite', () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-page-limit-'));
    db = openDatabase(join(dir, 'hub.db'), undefined, { testMaxPageCount: 1000 });
    expect(db.pragma('max_page_count', { simple: true })).toBe(1000);
    db.exec('CREATE TABLE filler (blob BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO filler (blob) VALUES (zeroblob(?))');
    // 100 rows of 64 KiB are about 1,600 pages: bounded, so a limit not applied fails, not fills /tmp.
    expect(() => {
      for (let i = 0; i < 100; i++) insert.run(64 * 1024);
    }).toThrow(expect.objectContaining({ code: 'SQLITE_FULL' }));
    expect(db.pragma('page_count', { simple: true })).toBeLessThanOrEqual(1000);
  });

  it('fails the migrations with SQLITE_FULL when the limit leaves them no room', () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-page-limit-'));
    expect(() => openDatabase(join(dir!, 'hub.db'), undefined, { testMaxPageCount: 1 })).toThrow(
      expect.objectContaining({ code: 'SQLITE_FULL' }),
    );
  });

  it.each([0, -1, 1.5])('refuses a limit of %s pages', (pages) => {
    expect(() => openDatabase(':memory:', undefined, { testMaxPageCount: pages })).toThrow(TypeError);
  });

  it('is read from FLOTILLA_TEST_STORE_MAX_PAGES, an empty value meaning none', () => {
    expect(serveConfig({}, { FLOTILLA_TEST_STORE_MAX_PAGES: '512' }).testStoreMaxPages).toBe(512);
    expect(serveConfig({}, { FLOTILLA_TEST_STORE_MAX_PAGES: '' }).testStoreMaxPages).toBeUndefined();
    expect(serveConfig({}, {}).testStoreMaxPages).toBeUndefined();
  });

  it.each(['0', 'many', '2.5'])('refuses FLOTILLA_TEST_STORE_MAX_PAGES=%s, naming the variable', (value) => {
    expect(() => serveConfig({}, { FLOTILLA_TEST_STORE_MAX_PAGES: value })).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: expect.stringContaining('FLOTILLA_TEST_STORE_MAX_PAGES must be a whole number of pages'),
      }),
    );
  });
});
