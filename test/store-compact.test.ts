import Database from 'better-sqlite3';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { api } from './fixtures/hub-fixture.ts';
import { FLOTILLA, flotilla, start } from './fixtures/cli.ts';
import { startHubProcess, type HubProcess } from './fixtures/processes.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

let dir: ReturnType<typeof tempDir> | undefined;
let hub: HubProcess | undefined;
afterEach(async () => {
  await hub?.kill();
  hub = undefined;
  dir?.remove();
  dir = undefined;
});

/**
 * A hub's store made before the hub gave free pages back, holding `reports` reports of about
 * 2 KB of which a prune left those `kept` keeps (by default the newest), and the free pages
 * the rest left.
 */
async function olderStoreWithFreePages(
  dataDir: string,
  reports = 2000,
  kept: (seq: number) => boolean = (seq) => seq === reports,
): Promise<string> {
  hub = await startHubProcess({ dataDir });
  const admin = { url: hub.url, token: hub.adminToken };
  expect((await api(admin.url, 'GET', '/v1/targets', { token: admin.token })).status).toBe(200);
  expect(await hub.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  hub = undefined;
  const path = join(dataDir, 'hub.db');
  const db = new Database(path);
  try {
    db.pragma('auto_vacuum = NONE');
    db.exec('VACUUM');
    db.exec(`INSERT INTO targets (id, name, status, public_key, key_id, enrolled_at, last_changed_at, last_changed_by)
             VALUES ('tgt_0000000000000001', 'edge-1', 'active', 'key', 'kid', 1000, 1000, 'test')`);
    const insert = db.prepare(
      "INSERT INTO reports (target_id, seq, generation, received_at, signed) VALUES ('tgt_0000000000000001', ?, 0, ?, ?)",
    );
    const signed = JSON.stringify({ report: { pad: 'x'.repeat(2000) }, signature: {} });
    db.transaction(() => {
      for (let seq = 1; seq <= reports; seq++) insert.run(seq, seq, signed);
    })();
    const prune = db.prepare("DELETE FROM reports WHERE target_id = 'tgt_0000000000000001' AND seq = ?");
    db.transaction(() => {
      for (let seq = 1; seq <= reports; seq++) if (!kept(seq)) prune.run(seq);
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
    expect(db.pragma('freelist_count', { simple: true })).toBeGreaterThan(800);
  } finally {
    db.close();
  }
  return path;
}

/** The store as a hub opening it finds it: a connection that may write, so a killed writer's WAL is recovered first. */
function inspect(path: string) {
  const db = new Database(path);
  try {
    return {
      autoVacuum: db.pragma('auto_vacuum', { simple: true }),
      free: db.pragma('freelist_count', { simple: true }),
      integrity: db.pragma('integrity_check', { simple: true }),
      seqs: db.prepare('SELECT seq FROM reports').pluck().all(),
      bytes: statSync(path).size,
    };
  } finally {
    db.close();
  }
}

describe('flotilla store compact', () => {
  it('rewrites an older store without its free pages, in the mode in which the hub gives back what a prune frees, and the hub starts on it', async () => {
    dir = tempDir('flotilla-compact-');
    const dataDir = join(dir.path, 'hub');
    const path = await olderStoreWithFreePages(dataDir);
    const before = inspect(path);
    expect(before.autoVacuum).toBe(0);

    const compacted = await flotilla(['store', 'compact', `sqlite:${path}`]);
    expect(compacted).toMatchObject({ code: 0, stderr: '' });
    expect(compacted.stdout).toMatch(
      /^compacted sqlite:\S+hub\.db in [\d.]+s: [\d.]+ MB → [\d.]+ MB; from now on the hub gives back the space each prune frees\n$/,
    );
    const after = inspect(path);
    expect(after).toMatchObject({ autoVacuum: 2, free: 0, integrity: 'ok', seqs: [2000] });
    expect(after.bytes).toBeLessThan(before.bytes / 3);

    hub = await startHubProcess({ dataDir });
    const targets = await api<{ items: unknown[] }>(hub.url, 'GET', '/v1/targets', { token: hub.adminToken });
    expect(targets.status).toBe(200);
  });

  it('killed with SIGKILL mid-rewrite, leaves the store as it was, and compacts it when run again', async () => {
    dir = tempDir('flotilla-compact-');
    // Half of 20,000 reports kept: about 20 MB to rewrite, long enough to be caught mid-way.
    const path = await olderStoreWithFreePages(join(dir.path, 'hub'), 20_000, (seq) => seq % 2 === 0);
    const before = inspect(path);
    expect(before.free).toBeGreaterThan(1000);

    const compaction = start(process.execPath, [FLOTILLA, 'store', 'compact', `sqlite:${path}`]);
    // The rewrite goes through the WAL: once that has grown, it is under way and not yet committed.
    const wal = `${path}-wal`;
    await waitFor('the rewrite to be under way', () => existsSync(wal) && statSync(wal).size > 2 ** 20, 30_000, 2);
    compaction.child.kill('SIGKILL');
    expect(await compaction.exited).toBe(128 + 9);
    expect(compaction.stdout()).toBe('');
    const cut = inspect(path);
    expect(cut).toMatchObject({ autoVacuum: 0, free: before.free, integrity: 'ok' });
    expect(cut.seqs).toEqual(before.seqs);

    const again = await flotilla(['store', 'compact', `sqlite:${path}`]);
    expect(again).toMatchObject({ code: 0, stderr: '' });
    const after = inspect(path);
    expect(after).toMatchObject({ autoVacuum: 2, free: 0, integrity: 'ok' });
    expect(after.seqs).toEqual(before.seqs);
  });

  it('refuses the store of a running hub in one line, and leaves it as it was', async () => {
    dir = tempDir('flotilla-compact-');
    const dataDir = join(dir.path, 'hub');
    hub = await startHubProcess({ dataDir });
    const path = join(dataDir, 'hub.db');

    const refused = await flotilla(['store', 'compact', `sqlite:${path}`]);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toBe(
      `flotilla: the store ${path} is open in another process, a running hub most likely; stop it, then compact\n`,
    );
    // The hub still writes: the refusal took no lock it kept.
    const written = await api(hub.url, 'POST', '/v1/enrollment-tokens', {
      token: hub.adminToken,
      body: { maxUses: 1 },
    });
    expect(written.status).toBe(201);
  });

  it('names a store that is missing, not SQLite, not a hub store, or not sqlite:PATH, in one line', async () => {
    dir = tempDir('flotilla-compact-');
    const text = join(dir.path, 'notes.txt');
    writeFileSync(text, 'not a database, but long enough to be read as one '.repeat(40));
    const other = join(dir.path, 'other.db');
    new Database(other).exec('CREATE TABLE notes (id INTEGER PRIMARY KEY)').close();
    const cases: [string, RegExp][] = [
      [`sqlite:${join(dir.path, 'missing.db')}`, /missing\.db does not exist\n$/],
      [`sqlite:${text}`, /notes\.txt is not a SQLite database: file is not a database\n$/],
      [`sqlite:${other}`, /other\.db is not a Flotilla hub store \(no hub tables in it\)\n$/],
      [
        'postgres://localhost/flotilla',
        /must be sqlite:PATH \(a hub\.db file\), received "postgres:\/\/localhost\/flotilla"/,
      ],
    ];
    for (const [store, message] of cases) {
      const result = await flotilla(['store', 'compact', store]);
      expect(result.code, store).toBe(1);
      expect(result.stderr.split('\n')).toHaveLength(2);
      expect(result.stderr).toMatch(message);
    }
  });
});
