import type { ProvenanceSource } from '@flotilla/protocol/policy';
import type { Db } from '../../store/database.ts';

/** An attestation stored with a release, with what its verification found when it was added. */
export interface StoredAttestation {
  readonly releaseDigest: string;
  readonly digest: string;
  readonly format: 'dsse' | 'sigstore-bundle';
  /** The Attestation JSON as received. */
  readonly json: string;
  readonly signers: readonly string[];
  readonly builder: string;
  readonly sources: readonly ProvenanceSource[];
  readonly addedAt: number;
  readonly addedBy: string;
}

interface Row {
  release_digest: string;
  digest: string;
  format: 'dsse' | 'sigstore-bundle';
  attestation: string;
  signers: string;
  builder: string;
  sources: string;
  added_at: number;
  added_by: string;
}

/** Provenance attestations of releases, content addressed: adding one twice keeps the first. */
export class AttestationStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO release_attestations (release_digest, digest, format, attestation, signers, builder, sources, added_at, added_by)
         VALUES (@releaseDigest, @digest, @format, @json, @signers, @builder, @sources, @addedAt, @addedBy)
         ON CONFLICT (release_digest, digest) DO NOTHING`,
      ),
      of: db.prepare<[string], Row>(
        'SELECT * FROM release_attestations WHERE release_digest = ? ORDER BY added_at, digest',
      ),
    };
  }

  /** True when the attestation was new for the release. */
  insert(attestation: StoredAttestation): boolean {
    return (
      this.s.insert.run({
        ...attestation,
        signers: JSON.stringify(attestation.signers),
        sources: JSON.stringify(attestation.sources),
      }).changes === 1
    );
  }

  /** A release's attestations, oldest first. */
  of(releaseDigest: string): StoredAttestation[] {
    return this.s.of.all(releaseDigest).map((row) => ({
      releaseDigest: row.release_digest,
      digest: row.digest,
      format: row.format,
      json: row.attestation,
      signers: JSON.parse(row.signers) as string[],
      builder: row.builder,
      sources: JSON.parse(row.sources) as ProvenanceSource[],
      addedAt: row.added_at,
      addedBy: row.added_by,
    }));
  }
}
