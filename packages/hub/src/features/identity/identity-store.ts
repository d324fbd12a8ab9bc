import type { Labels } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';
import type { OperatorRole } from '../../principal.ts';

/** An operator's API token, by the hash of its secret (the secret itself is never stored). */
export interface ApiTokenRecord {
  readonly id: string;
  readonly name: string;
  readonly role: OperatorRole;
}

/** An enrollment token, by the hash of its secret. */
export interface EnrollmentTokenRecord {
  readonly id: string;
  readonly labels: Labels;
  readonly description: string | null;
  readonly maxUses: number;
  readonly uses: number;
  readonly expiresAt: number;
  readonly createdAt: number;
  /** The API token id that created it. */
  readonly createdBy: string;
  /** When an operator revoked it, epoch milliseconds; null while it is usable. */
  readonly revokedAt: number | null;
}

interface EnrollmentTokenRow {
  id: string;
  token_hash: string;
  labels: string;
  description: string | null;
  max_uses: number;
  uses: number;
  expires_at: number;
  created_at: number;
  created_by: string;
  revoked_at: number | null;
}

function enrollmentToken(row: EnrollmentTokenRow): EnrollmentTokenRecord {
  return {
    id: row.id,
    labels: JSON.parse(row.labels) as Labels,
    description: row.description,
    maxUses: row.max_uses,
    uses: row.uses,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    createdBy: row.created_by,
    revokedAt: row.revoked_at,
  };
}

/** The credentials the hub keeps: operators' API tokens, enrollment tokens, and assertion ids already used. */
export class IdentityStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      apiTokenInsert: db.prepare(
        'INSERT INTO api_tokens (id, name, token_hash, role, selector, created_at) VALUES (@id, @name, @hash, @role, NULL, @createdAt)',
      ),
      apiTokenByHash: db.prepare<[string], ApiTokenRecord>(
        'SELECT id, name, role FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL',
      ),
      apiTokenCount: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM api_tokens'),
      enrollInsert: db.prepare(
        'INSERT INTO enrollment_tokens (id, token_hash, labels, description, max_uses, expires_at, created_at, created_by) VALUES (@id, @hash, @labels, @description, @maxUses, @expiresAt, @createdAt, @createdBy)',
      ),
      enrollByHash: db.prepare<[string], EnrollmentTokenRow>('SELECT * FROM enrollment_tokens WHERE token_hash = ?'),
      enrollById: db.prepare<[string], EnrollmentTokenRow>('SELECT * FROM enrollment_tokens WHERE id = ?'),
      enrollRevoke: db.prepare<[number, string]>(
        'UPDATE enrollment_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
      ),
      enrollUse: db.prepare<[string]>('UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ? AND uses < max_uses'),
      enrollList: db.prepare<[], EnrollmentTokenRow>('SELECT * FROM enrollment_tokens ORDER BY created_at DESC, id'),
      jtiInsert: db.prepare('INSERT INTO used_jtis (jti, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING'),
      jtiPrune: db.prepare('DELETE FROM used_jtis WHERE expires_at < ?'),
    };
  }

  insertApiToken(token: ApiTokenRecord & { readonly hash: string; readonly createdAt: number }): void {
    this.s.apiTokenInsert.run({
      id: token.id,
      name: token.name,
      hash: token.hash,
      role: token.role,
      createdAt: token.createdAt,
    });
  }

  apiTokenByHash(hash: string): ApiTokenRecord | undefined {
    return this.s.apiTokenByHash.get(hash);
  }

  apiTokenCount(): number {
    return this.s.apiTokenCount.get()!.n;
  }

  insertEnrollmentToken(token: Omit<EnrollmentTokenRecord, 'uses' | 'revokedAt'> & { readonly hash: string }): void {
    this.s.enrollInsert.run({ ...token, labels: JSON.stringify(token.labels) });
  }

  enrollmentTokenByHash(hash: string): EnrollmentTokenRecord | undefined {
    const row = this.s.enrollByHash.get(hash);
    return row === undefined ? undefined : enrollmentToken(row);
  }

  enrollmentTokenById(id: string): EnrollmentTokenRecord | undefined {
    const row = this.s.enrollById.get(id);
    return row === undefined ? undefined : enrollmentToken(row);
  }

  /** Marks the token revoked at `at`; false when it already was. */
  revokeEnrollmentToken(id: string, at: number): boolean {
    return this.s.enrollRevoke.run(at, id).changes === 1;
  }

  /** Newest first (then by id, for two made in the same millisecond). */
  enrollmentTokens(): EnrollmentTokenRecord[] {
    return this.s.enrollList.all().map(enrollmentToken);
  }

  /** Counts one use; false when the token was used up meanwhile. */
  useEnrollmentToken(id: string): boolean {
    return this.s.enrollUse.run(id).changes === 1;
  }

  /** Records an assertion id; false when it was seen before (a replay). */
  useJti(jti: string, expiresAt: number): boolean {
    return this.s.jtiInsert.run(jti, expiresAt).changes === 1;
  }

  /** Forgets assertion ids that expired before `now`: an expired assertion is refused anyway. */
  pruneJtis(now: number): void {
    this.s.jtiPrune.run(now);
  }
}
