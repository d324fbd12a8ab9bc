-- Reports kept in the order they arrive (a table with a rowid) rather than in (target, seq)
-- order (WITHOUT ROWID). SQLite stores a table's rows in its key's order: keyed by target, a
-- burst of reports from a fleet wrote each report (1–2 KB of signed JSON) into a page of its
-- own, splitting it, and the grouped commit wrote hundreds of such pages. In arrival order a
-- burst appends to the table's last pages, and only the small (target, seq) key index is
-- written at random. The key, and every lookup by it, stay as they were.
-- PostgreSQL keeps every table in arrival order already: it needs no twin of this migration.
CREATE TABLE reports_by_arrival (
  target_id   TEXT NOT NULL REFERENCES targets (id),
  seq         INTEGER NOT NULL,
  generation  INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  signed      TEXT NOT NULL,            -- SignedReport JSON, kept as the agent signed it
  PRIMARY KEY (target_id, seq)
) STRICT;
INSERT INTO reports_by_arrival (target_id, seq, generation, received_at, signed)
  SELECT target_id, seq, generation, received_at, signed FROM reports ORDER BY received_at, target_id, seq;
DROP TABLE reports;
ALTER TABLE reports_by_arrival RENAME TO reports;
