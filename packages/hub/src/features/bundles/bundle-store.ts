import type { SignedBundle } from '@flotilla/protocol';
import type { Db } from '../../store/database.ts';

/** A published release, without its content. */
export interface ReleaseRecord {
  readonly digest: string;
  readonly name: string;
  readonly version: string;
  readonly createdAt: number;
  readonly createdBy: string;
}

/** Published releases: immutable, content addressed, each stored as the signed JSON it was published as. */
export class BundleStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare(
        'INSERT INTO bundles (digest, name, version, signed, created_at, created_by) VALUES (@digest, @name, @version, @signed, @createdAt, @createdBy)',
      ),
      get: db.prepare<[string], { signed: string }>('SELECT signed FROM bundles WHERE digest = ?'),
      size: db.prepare<[string], { size: number }>('SELECT octet_length(signed) AS size FROM bundles WHERE digest = ?'),
      release: db.prepare<[string], { name: string; version: string }>(
        'SELECT name, version FROM bundles WHERE digest = ?',
      ),
      byVersion: db.prepare<[string, string], { digest: string }>(
        'SELECT digest FROM bundles WHERE name = ? AND version = ?',
      ),
      record: db.prepare<
        [string],
        { digest: string; name: string; version: string; created_at: number; created_by: string }
      >('SELECT digest, name, version, created_at, created_by FROM bundles WHERE digest = ?'),
      list: db.prepare<[], { digest: string; name: string; version: string; created_at: number; created_by: string }>(
        'SELECT digest, name, version, created_at, created_by FROM bundles ORDER BY name, created_at, version',
      ),
    };
  }

  insert(signed: SignedBundle, createdAt: number, createdBy: string): void {
    this.s.insert.run({
      digest: signed.digest,
      name: signed.bundle.name,
      version: signed.bundle.version,
      signed: JSON.stringify(signed),
      createdAt,
      createdBy,
    });
  }

  /** The stored JSON of a bundle, served byte for byte. */
  json(digest: string): string | undefined {
    return this.s.get.get(digest)?.signed;
  }

  /** How many bytes {@link json} answers for a digest. */
  size(digest: string): number | undefined {
    return this.s.size.get(digest)?.size;
  }

  /** The name and version published under a digest. */
  release(digest: string): { readonly name: string; readonly version: string } | undefined {
    return this.s.release.get(digest);
  }

  /** The digest of `name@version`, when published. */
  digestOf(name: string, version: string): string | undefined {
    return this.s.byVersion.get(name, version)?.digest;
  }

  /** A published release's record, without its content. */
  record(digest: string): ReleaseRecord | undefined {
    const r = this.s.record.get(digest);
    return r === undefined
      ? undefined
      : { digest: r.digest, name: r.name, version: r.version, createdAt: r.created_at, createdBy: r.created_by };
  }

  /** By name, then by age (then by version, for two published in the same millisecond). */
  list(): ReleaseRecord[] {
    return this.s.list.all().map((r) => ({
      digest: r.digest,
      name: r.name,
      version: r.version,
      createdAt: r.created_at,
      createdBy: r.created_by,
    }));
  }
}
