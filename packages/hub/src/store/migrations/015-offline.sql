-- The air-gap exchange (docs/air-gap.md). Reports carried in files go into `reports` like
-- online ones: that table is the one record of what the hub holds, so a report that arrives
-- both ways is stored once. These tables hold what only files have.

-- Per target: the offline expiry the operator set, and the last file each way.
CREATE TABLE offline_targets (
  target_id          TEXT PRIMARY KEY REFERENCES targets (id),
  expiry_seconds     INTEGER,            -- NULL: the default
  last_export_at     INTEGER,
  export_generation  INTEGER,            -- the generation of the last transfer file exported
  last_import_at     INTEGER
) STRICT;

-- The chain link of each report that came in a reports file, and the file it came in.
CREATE TABLE offline_report_links (
  target_id  TEXT NOT NULL REFERENCES targets (id),
  seq        INTEGER NOT NULL,
  link       TEXT NOT NULL,
  file       TEXT NOT NULL,              -- sha256 of the reports file
  PRIMARY KEY (target_id, seq)
) STRICT, WITHOUT ROWID;

-- Every reports file imported, with the receipt the hub answered.
CREATE TABLE offline_report_files (
  target_id   TEXT NOT NULL REFERENCES targets (id),
  file        TEXT NOT NULL,             -- sha256 of the file
  head_seq    INTEGER NOT NULL,
  imported_at INTEGER NOT NULL,
  receipt     TEXT NOT NULL,             -- SignedOfflineReceipt JSON
  PRIMARY KEY (target_id, file)
) STRICT, WITHOUT ROWID;
