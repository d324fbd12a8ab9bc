-- Drift (docs/drift.md): each target's current drift, incidents that hold reverts back, and
-- the drift policy shipped in every envelope.

-- The target's drift summary as the Target document carries it (TargetDrift JSON: counts by
-- class, intentional items, seq and time of the report), or NULL before the first report
-- with a drift section. The fleet query's `drift` field is indexed in target_fields from it.
ALTER TABLE targets ADD COLUMN drift TEXT;

-- The drift section of each target's latest report that carried one: what `drift ls`,
-- `drift adopt` and `drift revert` work from. Replaced, never appended: the history is in
-- the audit trail (`drift.observed` entries, written when the set of items changes).
CREATE TABLE target_drift (
  target_id   TEXT PRIMARY KEY REFERENCES targets (id),
  seq         INTEGER NOT NULL,          -- the report it came from
  observed_at INTEGER NOT NULL,          -- the agent's observation time, epoch milliseconds
  section     TEXT NOT NULL,             -- DriftReportSection JSON as the agent signed it
  signature   TEXT NOT NULL              -- item ids with class and action: detects a changed set
) STRICT;

-- Incidents: while one is open, every target its selector matches when its envelope is
-- signed carries it as a hold, and its agent reverts nothing (docs/drift.md, "Holds").
-- An id is the operator's (INC-42); a closed incident may be opened again.
CREATE TABLE incidents (
  id           TEXT PRIMARY KEY,
  selector     TEXT NOT NULL,            -- canonical fleet query (formatQuery); '' is every target
  reason       TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('open', 'closed')),
  opened_at    INTEGER NOT NULL,
  opened_by    TEXT NOT NULL,            -- Actor JSON
  closed_at    INTEGER,
  closed_by    TEXT,                     -- Actor JSON
  close_reason TEXT
) STRICT;
CREATE INDEX incidents_by_state ON incidents (state, opened_at);

-- The drift policy operators set (PUT /v1/drift-policy) lives in `meta` under
-- 'drift.policy' as { policy, setAt, setBy }; absent means defaultDriftPolicy.
