-- Report retention (docs/operations.md, "Report retention"): the hub prunes reports older
-- than its retention, target by target through the (target, seq) key, never a target's
-- newest. No index on received_at: each report's insert would pay for it (a third of the
-- report benchmark's rate), where a prune reads only the oldest reports of each target.

-- Per target, the highest seq whose report was pruned. The seqs up to it are spent though
-- their rows are gone: a replayed or renumbered report at or below it is refused, and a
-- reports file that carries them again ingests nothing.
CREATE TABLE report_floors (
  target_id      TEXT PRIMARY KEY REFERENCES targets (id),
  pruned_through INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Reports pruned that no `report.prune` audit entry has counted yet (one row, id 1): a prune
-- killed between its batches leaves its count here for the next prune's entry.
CREATE TABLE report_prune_tally (
  id      INTEGER PRIMARY KEY CHECK (id = 1),
  removed INTEGER NOT NULL
) STRICT;
