import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, isFlotillaError, signPayload, type Report } from '@flotilla/protocol';
import { copyToPostgres as copyStore } from '../../src/store/copy/copy-to-postgres.ts';
import { copyToSqlite } from '../../src/store/copy/copy-to-sqlite.ts';
import { PostgresDatabase } from '../../src/store/postgres/postgres-database.ts';
import type { SqlDatabase } from '../../src/store/sql.ts';
import { ALICE, OPERATOR, RolloutHub } from '../features/rollouts/rollout-fixture.ts';
import { createPostgresDatabase, postgresAvailable } from '../store-kinds.ts';

const FLOTILLA = fileURLToPath(new URL('../../bin/flotilla.js', import.meta.url));
const DAY = 86_400_000;

/** Every table of the source with its columns and key, to read both stores in one order. */
function tablesOf(db: Database.Database): { name: string; columns: string[]; key: string[] }[] {
  return db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .all()
    .map(({ name }) => {
      const info = db
        .prepare<[string], { name: string; pk: number }>('SELECT name, pk FROM pragma_table_info(?) ORDER BY cid')
        .all(name);
      return {
        name,
        columns: info.map((c) => c.name),
        key: info
          .filter((c) => c.pk > 0)
          .sort((a, b) => a.pk - b.pk)
          .map((c) => c.name),
      };
    });
}

function rowsOf(db: SqlDatabase, table: { name: string; columns: string[]; key: string[] }): unknown[] {
  const sql = `SELECT ${table.columns.map((c) => `"${c}"`).join(', ')} FROM "${table.name}" ORDER BY ${table.key.map((c) => `"${c}"`).join(', ')}`;
  return db.prepare(sql).all();
}

/** Runs `flotilla` from the build in its own process, as an operator would. */
function flotilla(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) => {
      const child = spawn(process.execPath, [FLOTILLA, ...args], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    },
  );
}

async function refusal(work: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await work;
  } catch (error) {
    if (isFlotillaError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected the copy to be refused');
}

// Each test copies a whole store once or more: seconds on a loaded machine.
describe.skipIf(!postgresAvailable())('flotilla store copy', { timeout: 30_000 }, () => {
  let fixture: RolloutHub;
  let sourcePath: string;
  // A skipped describe still runs its body: the folder is made only when its tests run.
  let scratch: string;
  const databases: { url: string; drop(): void }[] = [];

  function target(): string {
    const database = createPostgresDatabase();
    databases.push(database);
    return database.url;
  }

  /** A hub's store as a fleet leaves it: agents, releases, a rollout in waves, drift, an incident, a policy, tokens, an offline site, a pruned and checkpointed audit chain. */
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'flotilla-store-copy-'));
    fixture = await RolloutHub.open({ issueBatch: 4 });
    const s = fixture.services;
    const fleet = fixture.fleet(12, { fleet: 'shop' });
    const v1 = fixture.publish('web', '1.0.0');
    fixture.publish('web', '1.1.0');
    fixture.converge(fleet);
    s.operators.create({ name: 'carol@example.com', role: 'deployer' }, ALICE);
    s.policies.apply(
      {
        apiVersion: 'flotilla.io/v1',
        kind: 'Policy',
        metadata: { name: 'no-payments' },
        spec: { scope: 'compliance=none', placement: { deniedClasses: ['payments'] } },
      },
      ALICE,
    );
    fixture.advance(DAY);
    // Left mid-way, in its second wave, as a hub is often stopped.
    const rollout = fixture.create({
      release: `${v1.name}@1.1.0`,
      selector: 'fleet=shop',
      waves: 'canary:25%,half:50%,rest:100%',
    });
    fixture.converge(fleet);
    fixture.advance(60_000);
    fixture.reconcile();
    expect(fixture.view(rollout.id).state).toBe('running');
    const drifted = fleet[0]!;
    const desired = s.targets.get(drifted.id).desired;
    const report: Report = {
      apiVersion: API_VERSION,
      kind: 'Report',
      targetId: drifted.id,
      seq: ++drifted.seq,
      generation: desired.generation,
      phase: 'applied',
      health: 'healthy',
      bundles: desired.bundles,
      resources: [],
      facts: { zone: 'b' },
      drift: {
        items: [
          {
            resourceKey: 'ConfigMap/default/web',
            kind: 'ConfigMap',
            path: 'data.mode',
            change: 'modified',
            desired: '"fast"',
            observed: '"slow"',
            actor: { manager: 'kubectl-edit', operation: 'Update', basis: 'field-owner' },
            class: 'suspicious',
            action: 'alert',
            ruleId: 'human-change',
            reason: 'changed by hand',
            detectors: [],
          },
        ],
        omitted: 0,
        counts: { acceptable: 0, transient: 0, suspicious: 1, dangerous: 0 },
      },
      observedAt: new Date(fixture.now).toISOString(),
    };
    s.reports.accept(drifted.id, { report, signature: signPayload('report', report, drifted.key) });
    s.offline.setExpiry(fleet[1]!.id, 7 * 86_400, OPERATOR);
    s.incidents.open({ id: 'inc-1', selector: `name=${drifted.name}`, reason: 'investigating' }, ALICE);
    s.audit.checkpoint();
    fixture.advance(DAY);
    s.audit.prune({ olderThan: fixture.now - DAY / 2 });
    fixture.enroll({ fleet: 'shop' }, 'late-site');
    s.audit.checkpoint();
    // A clean stop, which also keeps the fleet index snapshot (a blob) for the next start.
    await fixture.hub.close();
    sourcePath = join(fixture.dir, 'hub.db');
  }, 60_000);

  afterAll(async () => {
    for (const database of databases) database.drop();
    await fixture?.close().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  }, 60_000);

  it('copies every table row for row, value for value, and the chain verifies on the copy', async () => {
    const url = target();
    const result = await copyStore({ from: sourcePath, to: url, batchRows: 7 });
    const source = new Database(sourcePath, { readonly: true });
    const copy = PostgresDatabase.connect(url);
    try {
      const tables = tablesOf(source);
      const populated = [
        'meta',
        'trust_roots',
        'enrollment_tokens',
        'targets',
        'target_fields',
        'bundles',
        'reports',
        'rollouts',
        'rollout_waves',
        'rollout_members',
        'target_drift',
        'incidents',
        'offline_targets',
        'policies',
        'api_tokens',
        'audit_entries',
        'audit_subjects',
        'audit_checkpoints',
        'audit_anchors',
        'fleet_index_snapshot',
      ];
      for (const name of populated)
        expect(source.prepare(`SELECT count(*) FROM ${name}`).pluck().get(), name).toBeGreaterThan(0);
      for (const table of tables) expect(rowsOf(copy, table), table.name).toEqual(rowsOf(source, table));
      expect(result.tables.map((t) => t.name).sort()).toEqual(tables.map((t) => t.name));
      expect(result.rows).toBe(result.tables.reduce((sum, t) => sum + t.rows, 0));
      expect(result.audit).toMatchObject({ ok: true, problems: [] });
      expect(result.audit.checkpoints).toBe(source.prepare('SELECT count(*) FROM audit_checkpoints').pluck().get());
      expect(result.audit.range?.from).toBeGreaterThan(1);
    } finally {
      source.close();
      copy.close();
    }
  });

  it('continues the rollout change log and checkpoint numbers after the copied ones', async () => {
    const url = target();
    await copyStore({ from: sourcePath, to: url });
    const source = new Database(sourcePath, { readonly: true });
    const copy = PostgresDatabase.connect(url);
    try {
      const used = source
        .prepare("SELECT seq FROM sqlite_sequence WHERE name = 'rollout_member_changes'")
        .pluck()
        .get();
      // The controller has read and deleted the rows; the numbers it used must not come back.
      expect(Number(used)).toBeGreaterThan(0);
      const next = copy.query("INSERT INTO rollout_member_changes (target_id) VALUES ('tgt_x') RETURNING seq")
        .rows[0] as { seq: number };
      expect(next.seq).toBe(Number(used) + 1);
      const checkpoints = copy.query('SELECT max(id) AS id FROM audit_checkpoints').rows[0] as { id: number };
      const id = copy.query(
        "INSERT INTO audit_checkpoints (seq, hash, reason, key_id, public_key, created_ms, signed) VALUES (1, 'h', 'manual', 'k', 'p', 0, '{}') RETURNING id",
      ).rows[0] as { id: number };
      expect(id.id).toBe(checkpoints.id + 1);
    } finally {
      source.close();
      copy.close();
    }
  });

  it("leaves the target's triggers on after the copy", async () => {
    const url = target();
    await copyStore({ from: sourcePath, to: url });
    const copy = PostgresDatabase.connect(url);
    try {
      const off = copy.query("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'D'").rows;
      expect(off).toEqual([]);
      expect(() => copy.query("UPDATE audit_entries SET actor_id = 'mallory'")).toThrow(/append-only/);
    } finally {
      copy.close();
    }
  });

  it('refuses a target that already holds a store, and --replace copies over it', async () => {
    const url = target();
    await copyStore({ from: sourcePath, to: url });
    const again = await refusal(copyStore({ from: sourcePath, to: url }));
    expect(again.code).toBe('CONFLICT');
    expect(again.message).toMatch(
      /already holds a store \(rows in api_tokens, .*\); copy into an empty database, or pass --replace/,
    );
    const replaced = await copyStore({ from: sourcePath, to: url, replace: true });
    expect(replaced.replaced).toBe(true);
    const source = new Database(sourcePath, { readonly: true });
    const copy = PostgresDatabase.connect(url);
    try {
      for (const table of tablesOf(source)) expect(rowsOf(copy, table), table.name).toEqual(rowsOf(source, table));
    } finally {
      source.close();
      copy.close();
    }
  });

  it('refuses a source that is not a Flotilla store, or has a newer schema, naming it', async () => {
    const url = target();
    const text = join(scratch, 'notes.txt');
    writeFileSync(text, 'not a database, but long enough to be read as one '.repeat(40));
    expect(await refusal(copyStore({ from: text, to: url }))).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('is not a SQLite database'),
    });
    const other = join(scratch, 'other.db');
    new Database(other).exec('CREATE TABLE notes (id INTEGER PRIMARY KEY)').close();
    expect(await refusal(copyStore({ from: other, to: url }))).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('is not a Flotilla hub store'),
    });
    const newer = join(scratch, 'newer.db');
    copyFileSync(sourcePath, newer);
    const db = new Database(newer);
    db.pragma('user_version = 999');
    db.close();
    expect(await refusal(copyStore({ from: newer, to: url }))).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/schema version 999, newer than this flotilla knows/),
    });
    expect(await refusal(copyStore({ from: join(scratch, 'missing.db'), to: url }))).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('does not exist'),
    });
  });

  it('refuses an unreachable target without touching the source', async () => {
    const answer = await refusal(
      copyStore({ from: sourcePath, to: 'postgres://flotilla_test:secret@127.0.0.1:1/nowhere' }),
    );
    expect(answer.code).toBe('STORE_UNAVAILABLE');
    expect(answer.message).toMatch(
      /^cannot use the target database postgres:\/\/flotilla_test:\*\*\*@127\.0\.0\.1:1\/nowhere/,
    );
  });

  it(
    'killed with SIGKILL midway, commits nothing, and the copy then runs again cleanly',
    { timeout: 60_000 },
    async () => {
      const url = target();
      const killed = await flotilla(['store', 'copy', '--from', `sqlite:${sourcePath}`, '--to', url], {
        FLOTILLA_FAULT: 'store-copy:batch:4',
      });
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      expect(killed.stderr).toContain('fault point store-copy:batch reached');
      const source = new Database(sourcePath, { readonly: true });
      const copy = PostgresDatabase.connect(url);
      try {
        for (const { name } of tablesOf(source))
          expect(copy.query(`SELECT count(*) AS n FROM "${name}"`).rows[0], name).toEqual({ n: 0 });
      } finally {
        source.close();
        copy.close();
      }
      const rerun = await flotilla(['store', 'copy', '--from', `sqlite:${sourcePath}`, '--to', url]);
      expect(rerun.stderr).toBe('');
      expect(rerun.code).toBe(0);
      expect(rerun.stdout).toMatch(
        /^copied \d+ tables, \d+ rows from sqlite:.+ to postgres:\/\/.+ in [\d.]+s; row counts match, audit chain verified \(\d+ entries, \d+ checkpoints\)\n$/,
      );
      const twice = await flotilla(['store', 'copy', '--from', `sqlite:${sourcePath}`, '--to', url]);
      expect(twice.code).toBe(1);
      expect(twice.stderr).toMatch(
        /^flotilla: the target database .* already holds a store .*--replace to empty it first\n$/,
      );
    },
  );

  it('names a malformed --from in one line', { timeout: 20_000 }, async () => {
    const run = await flotilla(['store', 'copy', '--from', sourcePath, '--to', 'postgres://127.0.0.1/x']);
    expect(run).toMatchObject({
      code: 1,
      stderr: 'flotilla: --from must be sqlite:PATH (a hub.db file) or a postgres://user:password@host:5432/db URL\n',
    });
  });
  it('copies a PostgreSQL store back into a new SQLite file, row for row, sequences included', async () => {
    const url = target();
    await copyStore({ from: sourcePath, to: url });
    const back = join(scratch, 'back.db');
    const result = await copyToSqlite({ from: url, to: back, batchRows: 5 });
    expect(result.audit).toMatchObject({ ok: true, problems: [] });
    expect(result.replaced).toBe(false);
    const source = new Database(sourcePath, { readonly: true });
    const copy = new Database(back, { readonly: true });
    try {
      for (const table of tablesOf(source)) expect(rowsOf(copy, table), table.name).toEqual(rowsOf(source, table));
      const sequences = 'SELECT name, seq FROM sqlite_sequence ORDER BY name';
      expect(copy.prepare(sequences).all()).toEqual(source.prepare(sequences).all());
      const triggers = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name";
      expect(copy.prepare(triggers).all()).toEqual(source.prepare(triggers).all());
      expect(copy.pragma('user_version', { simple: true })).toBe(source.pragma('user_version', { simple: true }));
    } finally {
      source.close();
      copy.close();
    }
    expect(await refusal(copyToSqlite({ from: url, to: back }))).toMatchObject({
      code: 'CONFLICT',
      message: `the target ${back} already exists; copy to a new file, or pass --replace to replace it`,
    });
    expect((await copyToSqlite({ from: url, to: back, replace: true })).replaced).toBe(true);
  });

  it(
    'on the way back, a copy killed midway leaves no file at the target, and runs again cleanly',
    { timeout: 60_000 },
    async () => {
      const url = target();
      await copyStore({ from: sourcePath, to: url });
      const back = join(scratch, 'killed.db');
      const killed = await flotilla(['store', 'copy', '--from', url, '--to', `sqlite:${back}`], {
        FLOTILLA_FAULT: 'store-copy:batch:3',
      });
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      expect(existsSync(back)).toBe(false);
      const rerun = await flotilla(['store', 'copy', '--from', url, '--to', `sqlite:${back}`]);
      expect(rerun.stderr).toBe('');
      expect(rerun.stdout).toMatch(
        /^copied \d+ tables, \d+ rows from postgres:\/\/flotilla_test:\*\*\*@.+ to sqlite:.+killed\.db in /,
      );
      expect(existsSync(`${back}.copying`)).toBe(false);
    },
  );

  it('refuses a PostgreSQL database that holds no hub store', async () => {
    const empty = createPostgresDatabase();
    databases.push(empty);
    expect(await refusal(copyToSqlite({ from: empty.url, to: join(scratch, 'none.db') }))).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/^the source database postgres:.* is not a Flotilla hub store/),
    });
    expect(existsSync(join(scratch, 'none.db'))).toBe(false);
  });

  it('names two stores of one kind in one line', { timeout: 20_000 }, async () => {
    const run = await flotilla(['store', 'copy', '--from', `sqlite:${sourcePath}`, '--to', 'sqlite:/tmp/x.db']);
    expect(run).toMatchObject({
      code: 1,
      stderr:
        'flotilla: --to must be the other kind of store than --from: the copy goes from sqlite:PATH to postgres://… or back\n',
    });
  });
});
