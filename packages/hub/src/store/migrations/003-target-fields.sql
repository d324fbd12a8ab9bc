-- The fleet query index (packages/protocol/src/query, docs/query-language.md).
--
-- One row per queryable value of a target, computed by targetFieldRows(target) in
-- @flotilla/protocol, the same function the in-memory evaluator's values come from:
--
--   field        'labels.K', 'properties.K', 'facts.a.b' (fact keys joined with dots),
--                'running.N' (observed bundles), 'desired.N' (desired bundles), 'health',
--                'phase', and 'key.K' for the bare key K: the property K if the target has
--                one, else the label K
--   text_value   the value as text (numbers by String(n), booleans as true/false)
--   num_value    numbers only
--   version_key  strings that read as versions: a sortable key (versionKey in protocol)
--   time_value   strings that read as ISO 8601 instants: epoch milliseconds
--
-- The hub keeps it in step with `targets`: on every write of a target, in the same
-- transaction, delete the target's rows and insert targetFieldRows(target) (the statements
-- are targetFieldsSql in protocol); on delete of a target, delete its rows (the cascade
-- covers stores that enable foreign keys). The builtins id, name, status, lastSeen,
-- lastChanged and enrolled are read from `targets` itself, so a heartbeat that only moves
-- last_seen_at does not touch this table.
CREATE TABLE target_fields (
  target_id   TEXT NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
  field       TEXT NOT NULL,
  text_value  TEXT NOT NULL,
  num_value   REAL,
  version_key TEXT,
  time_value  INTEGER,
  -- Clustered by target: replacing a target's rows is one range, and checking one field
  -- of one candidate while another condition drives the query is one seek.
  PRIMARY KEY (target_id, field, text_value)
) STRICT, WITHOUT ROWID;

-- The condition that drives a query reads one of these: `field = ? AND <column> <op> ?`.
-- Each index also holds the primary key, so target_id comes without touching the table.
-- They serve facet counts too (SELECT text_value, COUNT(*) ... WHERE field = ? GROUP BY
-- text_value). The typed ones are partial: most values are not numbers, versions or times.
CREATE INDEX target_fields_by_text ON target_fields (field, text_value);
CREATE INDEX target_fields_by_num ON target_fields (field, num_value) WHERE num_value IS NOT NULL;
CREATE INDEX target_fields_by_version ON target_fields (field, version_key) WHERE version_key IS NOT NULL;
CREATE INDEX target_fields_by_time ON target_fields (field, time_value) WHERE time_value IS NOT NULL;

-- Builtins that live on `targets`: time filters and the status facet.
CREATE INDEX targets_by_status ON targets (status);
CREATE INDEX targets_by_last_seen ON targets (last_seen_at);
CREATE INDEX targets_by_last_changed ON targets (last_changed_at);
CREATE INDEX targets_by_enrolled ON targets (enrolled_at);
