-- Hub replicas on one database (docs/scale-out.md). Only PostgreSQL has these tables: on
-- SQLite one process is the only replica, holds every lease and has no one to tell.

-- Once-only work (walking rollouts, audit checkpoints, pruning) runs on the replica named by
-- its lease, renewed every second. A replica that takes a lease over raises `fencing`; the
-- work checks its number inside each of its write transactions, so a holder that paused past
-- its lease cannot write on after another took over.
CREATE TABLE replica_leases (
  name       text COLLATE "C" PRIMARY KEY,
  holder     text COLLATE "C" NOT NULL,
  fencing    bigint NOT NULL,
  expires_at timestamptz NOT NULL
);

-- What changed, written by the triggers below in the transaction of the change itself, so
-- every other replica brings its caches in step: when told (NOTIFY flotilla_changes, sent at
-- commit) and, before acting on them, right after taking the write lock. `origin` names the
-- replica that wrote it (its session's flotilla.replica), which has its caches in step already.
CREATE TABLE replica_changes (
  seq        bigserial PRIMARY KEY,
  topic      text COLLATE "C" NOT NULL,
  key        text COLLATE "C" NOT NULL,
  origin     text COLLATE "C",
  changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX replica_changes_by_time ON replica_changes (changed_at);

-- One change per row: topic from the trigger's first argument, key from the column it names.
CREATE FUNCTION replica_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed jsonb := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
BEGIN
  INSERT INTO replica_changes (topic, key, origin)
    VALUES (TG_ARGV[0], coalesce(changed ->> TG_ARGV[1], ''), current_setting('flotilla.replica', true));
  PERFORM pg_notify('flotilla_changes', '');
  RETURN NULL;
END $$;

-- A target's row: every change (the fleet index, the served state), and apart what wakes its
-- agent (a new envelope) or ends its stream (a new status).
CREATE FUNCTION replica_target_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  writer text := current_setting('flotilla.replica', true);
  target_id text := CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
BEGIN
  INSERT INTO replica_changes (topic, key, origin) VALUES ('target', target_id, writer);
  IF TG_OP = 'UPDATE' THEN
    IF NEW.envelope IS DISTINCT FROM OLD.envelope OR NEW.desired_generation <> OLD.desired_generation THEN
      INSERT INTO replica_changes (topic, key, origin) VALUES ('target-envelope', target_id, writer);
    END IF;
    IF NEW.status <> OLD.status OR NEW.key_id <> OLD.key_id THEN
      INSERT INTO replica_changes (topic, key, origin) VALUES ('target-status', target_id, writer);
    END IF;
  END IF;
  PERFORM pg_notify('flotilla_changes', '');
  RETURN NULL;
END $$;

CREATE TRIGGER replica_targets AFTER INSERT OR UPDATE OR DELETE ON targets
  FOR EACH ROW EXECUTE FUNCTION replica_target_change();
CREATE TRIGGER replica_api_tokens AFTER UPDATE OR DELETE ON api_tokens
  FOR EACH ROW EXECUTE FUNCTION replica_change('api-token', 'id');
CREATE TRIGGER replica_trust_roots AFTER INSERT OR UPDATE OR DELETE ON trust_roots
  FOR EACH ROW EXECUTE FUNCTION replica_change('trust-root', 'version');
CREATE TRIGGER replica_meta AFTER INSERT OR UPDATE OR DELETE ON meta
  FOR EACH ROW EXECUTE FUNCTION replica_change('meta', 'key');
CREATE TRIGGER replica_incidents AFTER INSERT OR UPDATE OR DELETE ON incidents
  FOR EACH ROW EXECUTE FUNCTION replica_change('incident', 'id');
CREATE TRIGGER replica_policy_sets AFTER INSERT OR UPDATE OR DELETE ON policy_sets
  FOR EACH ROW EXECUTE FUNCTION replica_change('policy-set', 'version');
CREATE TRIGGER replica_rollouts AFTER UPDATE OR DELETE ON rollouts
  FOR EACH ROW EXECUTE FUNCTION replica_change('rollout', 'id');
