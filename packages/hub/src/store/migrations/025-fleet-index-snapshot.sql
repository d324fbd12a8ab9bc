-- The fleet query index as a clean stop left it (FleetIndex.snapshot), so the next start loads
-- it in a fraction of the time a rebuild from target_fields takes. It is good only while the
-- targets and their fields are exactly as they were when it was taken: every write to either
-- table deletes it in the same transaction, whoever makes the write. A hub killed after it
-- wrote anything therefore finds none and rebuilds from the store; one killed before any
-- write finds the store unchanged, and the snapshot still true.
CREATE TABLE fleet_index_snapshot (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  taken_at INTEGER NOT NULL,       -- epoch milliseconds
  data     BLOB NOT NULL
) STRICT;

CREATE TRIGGER fleet_index_snapshot_targets_insert AFTER INSERT ON targets
BEGIN DELETE FROM fleet_index_snapshot; END;
CREATE TRIGGER fleet_index_snapshot_targets_update AFTER UPDATE ON targets
BEGIN DELETE FROM fleet_index_snapshot; END;
CREATE TRIGGER fleet_index_snapshot_targets_delete AFTER DELETE ON targets
BEGIN DELETE FROM fleet_index_snapshot; END;
CREATE TRIGGER fleet_index_snapshot_fields_insert AFTER INSERT ON target_fields
BEGIN DELETE FROM fleet_index_snapshot; END;
CREATE TRIGGER fleet_index_snapshot_fields_update AFTER UPDATE ON target_fields
BEGIN DELETE FROM fleet_index_snapshot; END;
CREATE TRIGGER fleet_index_snapshot_fields_delete AFTER DELETE ON target_fields
BEGIN DELETE FROM fleet_index_snapshot; END;
