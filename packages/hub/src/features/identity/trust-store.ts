import type { SignedTrustRoot } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';

const HUB_ID_KEY = 'hub_id';

/** The hub's id and every version of its trust root. */
export class TrustStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      metaGet: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      metaClaim: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING'),
      insert: db.prepare('INSERT INTO trust_roots (version, signed) VALUES (?, ?)'),
      insertFirst: db.prepare(
        'INSERT INTO trust_roots (version, signed) VALUES (?, ?) ON CONFLICT (version) DO NOTHING',
      ),
      latest: db.prepare<[], { signed: string }>('SELECT signed FROM trust_roots ORDER BY version DESC LIMIT 1'),
      get: db.prepare<[number], { signed: string }>('SELECT signed FROM trust_roots WHERE version = ?'),
    };
  }

  hubId(): string | undefined {
    return this.s.metaGet.get(HUB_ID_KEY)?.value;
  }

  /** Stores `hubId` as the hub's id unless one is stored already; answers the hub's id either way. */
  claimHubId(hubId: string): string {
    this.s.metaClaim.run(HUB_ID_KEY, hubId);
    return this.hubId()!;
  }

  /** Stores a version; one stored already is a unique violation (see isUniqueViolation). */
  insert(signed: SignedTrustRoot): void {
    this.s.insert.run(signed.trustRoot.version, JSON.stringify(signed));
  }

  /** Stores a version unless one of that number is stored already; false then. */
  insertFirst(signed: SignedTrustRoot): boolean {
    return this.s.insertFirst.run(signed.trustRoot.version, JSON.stringify(signed)).changes === 1;
  }

  latest(): SignedTrustRoot | undefined {
    const row = this.s.latest.get();
    return row === undefined ? undefined : (JSON.parse(row.signed) as SignedTrustRoot);
  }

  version(version: number): SignedTrustRoot | undefined {
    const row = this.s.get.get(version);
    return row === undefined ? undefined : (JSON.parse(row.signed) as SignedTrustRoot);
  }
}
