import type { Db } from '../../store/database.ts';

/** A target's row of offline state. */
export interface OfflineTargetRecord {
  readonly expirySeconds: number | null;
  readonly lastExportAt: number | null;
  readonly exportGeneration: number | null;
  readonly lastImportAt: number | null;
  /** The newest trust-root version the site holds, as its last reports file said. */
  readonly trustRootVersion: number | null;
}

interface Row {
  expiry_seconds: number | null;
  last_export_at: number | null;
  export_generation: number | null;
  last_import_at: number | null;
  trust_root_version: number | null;
}

/** The offline feature's tables: per-target settings and last files, report links, imported files. */
export class OfflineStore {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      get: db.prepare<[string], Row>(
        'SELECT expiry_seconds, last_export_at, export_generation, last_import_at, trust_root_version FROM offline_targets WHERE target_id = ?',
      ),
      all: db.prepare<[], Row & { target_id: string }>(
        'SELECT target_id, expiry_seconds, last_export_at, export_generation, last_import_at, trust_root_version FROM offline_targets ORDER BY target_id',
      ),
      setExpiry: db.prepare(
        'INSERT INTO offline_targets (target_id, expiry_seconds) VALUES (@targetId, @expiry) ON CONFLICT (target_id) DO UPDATE SET expiry_seconds = @expiry',
      ),
      exported: db.prepare(
        'INSERT INTO offline_targets (target_id, last_export_at, export_generation) VALUES (@targetId, @at, @generation) ON CONFLICT (target_id) DO UPDATE SET last_export_at = @at, export_generation = @generation',
      ),
      // A site's trust root only grows: a file written earlier and imported later does not lower it.
      // (The larger of the two as a CASE, which both SQL dialects read: SQLite's two-argument max is PostgreSQL's greatest.)
      imported: db.prepare(
        `INSERT INTO offline_targets (target_id, last_import_at, trust_root_version) VALUES (@targetId, @at, @version)
         ON CONFLICT (target_id) DO UPDATE SET last_import_at = @at,
           trust_root_version = CASE WHEN coalesce(CAST(@version AS bigint), 0) > coalesce(offline_targets.trust_root_version, 0)
                                     THEN CAST(@version AS bigint) ELSE coalesce(offline_targets.trust_root_version, 0) END`,
      ),
      link: db.prepare(
        'INSERT INTO offline_report_links (target_id, seq, link, file) VALUES (@targetId, @seq, @link, @file) ON CONFLICT DO NOTHING',
      ),
      file: db.prepare(
        'INSERT INTO offline_report_files (target_id, file, head_seq, imported_at, receipt) VALUES (@targetId, @file, @headSeq, @at, @receipt) ON CONFLICT DO NOTHING',
      ),
    };
  }

  target(targetId: string): OfflineTargetRecord | undefined {
    const row = this.s.get.get(targetId);
    return row === undefined ? undefined : record(row);
  }

  /** Every target that has offline state, by id. */
  all(): Array<OfflineTargetRecord & { readonly targetId: string }> {
    return this.s.all.all().map((row) => ({ targetId: row.target_id, ...record(row) }));
  }

  setExpiry(targetId: string, expirySeconds: number): void {
    this.s.setExpiry.run({ targetId, expiry: expirySeconds });
  }

  markExported(targetId: string, at: number, generation: number): void {
    this.s.exported.run({ targetId, at, generation });
  }

  /** Records a reports file imported at `at`, from a site holding trust-root `trustRootVersion`. */
  markImported(targetId: string, at: number, trustRootVersion: number | undefined): void {
    this.s.imported.run({ targetId, at, version: trustRootVersion ?? null });
  }

  /** Records the chain link of a report held from a reports file (first file wins). */
  addLink(targetId: string, seq: number, link: string, file: string): void {
    this.s.link.run({ targetId, seq, link, file });
  }

  /** Records an imported reports file and the receipt answered for it. */
  addFile(targetId: string, file: string, headSeq: number, at: number, receipt: string): void {
    this.s.file.run({ targetId, file, headSeq, at, receipt });
  }
}

function record(row: Row): OfflineTargetRecord {
  return {
    expirySeconds: row.expiry_seconds,
    lastExportAt: row.last_export_at,
    exportGeneration: row.export_generation,
    lastImportAt: row.last_import_at,
    trustRootVersion: row.trust_root_version === 0 ? null : row.trust_root_version,
  };
}
