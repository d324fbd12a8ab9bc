import { fileURLToPath } from 'node:url';
import { readMigrations, type Migration } from '../database.ts';
import type { PostgresDatabase } from './postgres-database.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations-postgres/', import.meta.url));
/** Held while migrating, so replicas starting together apply each migration once. */
const MIGRATE_LOCK = 0x466c6f75;

/** The numbered PostgreSQL migrations shipped with the hub, in order: `NNN-name.sql`. */
export function bundledPostgresMigrations(): Migration[] {
  return readMigrations(MIGRATIONS_DIR);
}

/**
 * Brings the schema up to date: each migration in its own transaction with its version, under
 * a session lock so that replicas starting at once wait for each other instead of racing.
 */
export function migratePostgres(db: PostgresDatabase, migrations = bundledPostgresMigrations()): void {
  db.query(`SELECT pg_advisory_lock(${MIGRATE_LOCK})`);
  try {
    db.query('CREATE TABLE IF NOT EXISTS flotilla_schema (version integer NOT NULL)');
    const current = Number(
      (db.query('SELECT coalesce(max(version), 0) AS version FROM flotilla_schema').rows[0] as { version: number })
        .version,
    );
    const newest = migrations.at(-1)?.version ?? 0;
    if (current > newest)
      throw new Error(
        `the database schema is version ${current}, newer than this hub knows (${newest}); run a newer hub`,
      );
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      db.transaction(() => {
        db.query(migration.sql);
        db.query('INSERT INTO flotilla_schema (version) VALUES ($1)', [migration.version]);
      })();
    }
  } finally {
    db.query(`SELECT pg_advisory_unlock(${MIGRATE_LOCK})`);
  }
}
