import Database from 'better-sqlite3';
import { existsSync, statSync } from 'node:fs';
import { FlotillaError, messageOf } from '@flotilla/protocol';

/** What `flotilla store compact` did to a hub's SQLite file. */
export interface Compacted {
  /** The file and its WAL before, and the file after (the WAL is emptied). */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** Whether the file already gave free pages back as it went (made by a hub that sets it). */
  readonly wasIncremental: boolean;
}

const INCREMENTAL = 2;

function bytesOf(path: string): number {
  const wal = `${path}-wal`;
  return statSync(path).size + (existsSync(wal) ? statSync(wal).size : 0);
}

/**
 * Rewrites a stopped hub's SQLite store without its free pages, and in the mode in which the
 * hub gives the pages a prune frees back as it goes (`auto_vacuum = INCREMENTAL`, which only a
 * rewrite can give a file that has tables). SQLite's VACUUM is one transaction: a compaction
 * killed at any point leaves the file as it was. It needs free disk space about the size of
 * the store while it runs.
 *
 * A file another process has open (a running hub) is refused, not waited for: the rewrite
 * would hold the hub's writes for its whole length.
 */
export function compactStore(path: string): Compacted {
  const where = `the store ${path}`;
  if (!existsSync(path)) throw new FlotillaError('CONFIG_INVALID', `${where} does not exist`);
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true });
  } catch (error) {
    throw new FlotillaError('CONFIG_INVALID', `${where} cannot be opened: ${messageOf(error)}`);
  }
  try {
    db.pragma('busy_timeout = 0');
    try {
      // Held from here until the file is closed: no hub can open it meanwhile.
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      db.exec('COMMIT');
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED')
        throw new FlotillaError(
          'STORE_UNAVAILABLE',
          `${where} is open in another process, a running hub most likely; stop it, then compact`,
        );
      throw new FlotillaError('CONFIG_INVALID', `${where} is not a SQLite database: ${messageOf(error)}`);
    }
    const tables = new Set(
      db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .pluck()
        .all() as unknown as string[],
    );
    if (!tables.has('meta') || !tables.has('audit_entries'))
      throw new FlotillaError('CONFIG_INVALID', `${where} is not a Flotilla hub store (no hub tables in it)`);
    const bytesBefore = bytesOf(path);
    const wasIncremental = db.pragma('auto_vacuum', { simple: true }) === INCREMENTAL;
    db.pragma('auto_vacuum = INCREMENTAL');
    db.exec('VACUUM');
    db.pragma('wal_checkpoint(TRUNCATE)');
    return { bytesBefore, bytesAfter: bytesOf(path), wasIncremental };
  } finally {
    db.close();
  }
}
