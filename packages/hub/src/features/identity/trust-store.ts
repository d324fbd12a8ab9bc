import type { SignedTrustRoot } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';

const HUB_ID_KEY = 'hub_id';

/** The hub's id and every version of its trust root. */
export class TrustStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      metaGet: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      metaSet: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      insert: db.prepare('INSERT INTO trust_roots (version, signed) VALUES (?, ?)'),
      latest: db.prepare<[], { signed: string }>('SELECT signed FROM trust_roots ORDER BY version DESC LIMIT 1'),
      get: db.prepare<[number], { signed: string }>('SELECT signed FROM trust_roots WHERE version = ?'),
    };
  }

  hubId(): string | undefined {
    return this.s.metaGet.get(HUB_ID_KEY)?.value;
  }

  setHubId(hubId: string): void {
    this.s.metaSet.run(HUB_ID_KEY, hubId);
  }

  insert(signed: SignedTrustRoot): void {
    this.s.insert.run(signed.trustRoot.version, JSON.stringify(signed));
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
