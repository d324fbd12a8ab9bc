import type { Actor } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';

/** One stored version of a policy. */
export interface PolicyRecord {
  readonly name: string;
  readonly version: number;
  /** The canonical Policy JSON with `metadata.version`. */
  readonly document: string;
  readonly digest: string;
  readonly deleted: boolean;
  readonly changedAt: number;
  readonly changedBy: Actor;
}

interface PolicyRow {
  name: string;
  version: number;
  document: string;
  digest: string;
  deleted: number;
  changed_at: number;
  changed_by: string;
}

function record(row: PolicyRow): PolicyRecord {
  return {
    name: row.name,
    version: row.version,
    document: row.document,
    digest: row.digest,
    deleted: row.deleted === 1,
    changedAt: row.changed_at,
    changedBy: JSON.parse(row.changed_by) as Actor,
  };
}

/** Policies and their versions in the hub's database: appended to, never rewritten. */
export class PolicyStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare(
        'INSERT INTO policies (name, version, document, digest, deleted, changed_at, changed_by) VALUES (@name, @version, @document, @digest, @deleted, @changedAt, @changedBy)',
      ),
      latest: db.prepare<[string], PolicyRow>('SELECT * FROM policies WHERE name = ? ORDER BY version DESC LIMIT 1'),
      version: db.prepare<[string, number], PolicyRow>('SELECT * FROM policies WHERE name = ? AND version = ?'),
      history: db.prepare<[string], PolicyRow>('SELECT * FROM policies WHERE name = ? ORDER BY version DESC'),
      live: db.prepare<[], PolicyRow>(
        `SELECT p.* FROM policies p
           JOIN (SELECT name, max(version) AS version FROM policies GROUP BY name) m
             ON p.name = m.name AND p.version = m.version
          WHERE p.deleted = 0 ORDER BY p.name`,
      ),
      // Versions are only ever appended (a deletion is a version too), so their count changes with every one.
      stamp: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM policies'),
    };
  }

  insert(entry: PolicyRecord): void {
    this.s.insert.run({
      name: entry.name,
      version: entry.version,
      document: entry.document,
      digest: entry.digest,
      deleted: entry.deleted ? 1 : 0,
      changedAt: entry.changedAt,
      changedBy: JSON.stringify(entry.changedBy),
    });
  }

  /** The highest version of a name, a deletion included. */
  latest(name: string): PolicyRecord | undefined {
    const row = this.s.latest.get(name);
    return row === undefined ? undefined : record(row);
  }

  version(name: string, version: number): PolicyRecord | undefined {
    const row = this.s.version.get(name, version);
    return row === undefined ? undefined : record(row);
  }

  /** Every version of a name, newest first. */
  history(name: string): PolicyRecord[] {
    return this.s.history.all(name).map(record);
  }

  /** The live version of every policy not deleted, by name. */
  live(): PolicyRecord[] {
    return this.s.live.all().map(record);
  }

  /** Changes whenever a version is added: what cached evaluations are keyed by. */
  stamp(): string {
    return String(this.s.stamp.get()!.n);
  }
}
