-- The snapshot goes stale when a target row is written, as SQLite's triggers (025, row
-- triggers) have it: a statement trigger also fired on an UPDATE that matched no row, such
-- as a check-in no later than the contact already recorded. Every statement on targets names
-- one row, so a row trigger costs what the statement trigger did. target_fields keeps its
-- statement trigger: a target's fields are deleted and written many rows to a statement.
DROP TRIGGER fleet_index_snapshot_targets ON targets;
CREATE TRIGGER fleet_index_snapshot_targets AFTER INSERT OR UPDATE OR DELETE ON targets
  FOR EACH ROW EXECUTE FUNCTION fleet_index_snapshot_stale();
