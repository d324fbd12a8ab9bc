import type { Db } from '../../store/database.ts';
import type { OperatorRole } from '../../principal.ts';

/** An operator's API token as stored: never its secret, only the secret's hash. */
export interface OperatorTokenRecord {
  readonly id: string;
  readonly name: string;
  readonly role: OperatorRole;
  /** The canonical scope query; null: the whole fleet. */
  readonly scope: string | null;
  readonly createdAt: number;
  readonly createdBy: string;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
}

interface TokenRow {
  id: string;
  name: string;
  role: OperatorRole;
  selector: string | null;
  created_at: number;
  created_by: string;
  expires_at: number | null;
  revoked_at: number | null;
}

function record(row: TokenRow): OperatorTokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    scope: row.selector,
    createdAt: row.created_at,
    createdBy: row.created_by,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

const COLUMNS = 'id, name, role, selector, created_at, created_by, expires_at, revoked_at';

/** Operators' API tokens in the hub's database (the `api_tokens` table). */
export class OperatorTokenStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare(
        'INSERT INTO api_tokens (id, name, token_hash, role, selector, created_at, created_by, expires_at) VALUES (@id, @name, @hash, @role, @scope, @createdAt, @createdBy, @expiresAt)',
      ),
      byHash: db.prepare<[string], TokenRow>(`SELECT ${COLUMNS} FROM api_tokens WHERE token_hash = ?`),
      byId: db.prepare<[string], TokenRow>(`SELECT ${COLUMNS} FROM api_tokens WHERE id = ?`),
      liveByName: db.prepare<[string, number], TokenRow>(
        `SELECT ${COLUMNS} FROM api_tokens WHERE name = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
      ),
      list: db.prepare<[], TokenRow>(`SELECT ${COLUMNS} FROM api_tokens ORDER BY created_at DESC, id`),
      revoke: db.prepare<[number, string]>('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    };
  }

  insert(token: Omit<OperatorTokenRecord, 'revokedAt'> & { readonly hash: string }): void {
    this.s.insert.run(token);
  }

  byHash(hash: string): OperatorTokenRecord | undefined {
    const row = this.s.byHash.get(hash);
    return row === undefined ? undefined : record(row);
  }

  byId(id: string): OperatorTokenRecord | undefined {
    const row = this.s.byId.get(id);
    return row === undefined ? undefined : record(row);
  }

  /** Tokens of this name neither revoked nor expired at `now`. */
  liveByName(name: string, now: number): OperatorTokenRecord[] {
    return this.s.liveByName.all(name, now).map(record);
  }

  /** Newest first. */
  list(): OperatorTokenRecord[] {
    return this.s.list.all().map(record);
  }

  /** Whether the token was live and is now revoked. */
  revoke(id: string, now: number): boolean {
    return this.s.revoke.run(now, id).changes === 1;
  }
}
