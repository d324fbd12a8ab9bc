import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  generateKeyPair,
  sha256,
  signBundle,
  signPayload,
  type KeyPair,
  type Resource,
  type Target,
} from '@flotilla/protocol';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from '../fixtures/hub-fixture.ts';
import {
  spawnHubProcess,
  startAgentProcess,
  startHubProcess,
  type HubProcess,
  type RunningProcess,
} from '../fixtures/processes.ts';
import { tempDir } from '../fixtures/temp-dir.ts';
import { waitFor } from '../fixtures/wait-for.ts';

/*
 * Processes killed with SIGKILL where a real crash cannot be aimed from outside: inside the
 * hub's transactions just before they commit, and in the agent between the hub storing a
 * report and the agent recording that it did (FLOTILLA_FAULT, docs/operations.md). After a
 * restart nothing may be lost, doubled or half-applied.
 */

let dir: ReturnType<typeof tempDir> | undefined;
let hubProcess: HubProcess | undefined;
let hubFixture: HubFixture | undefined;
let agents: AgentFixture[] = [];
let agentProcess: RunningProcess | undefined;

afterEach(async () => {
  await Promise.all(agents.map((a) => a.agent.stop()));
  agents = [];
  await agentProcess?.kill();
  agentProcess = undefined;
  await hubProcess?.kill();
  hubProcess = undefined;
  await hubFixture?.dispose();
  hubFixture = undefined;
  dir?.remove();
  dir = undefined;
});

interface Admin {
  readonly url: string;
  readonly token: string;
}

async function publish(admin: Admin, key: KeyPair, name: string, version: string, resources: Resource[]) {
  const signed = signBundle({ apiVersion: API_VERSION, kind: 'Bundle', name, version, resources }, [key]);
  expect((await api(admin.url, 'POST', '/v1/bundles', { token: admin.token, body: signed })).status).toBe(201);
}

async function releaseKey(admin: Admin): Promise<KeyPair> {
  const key = generateKeyPair();
  const added = await api(admin.url, 'POST', '/v1/trust-root/release-keys', {
    token: admin.token,
    body: { publicKey: key.publicKey, name: 'release' },
  });
  expect(added.status).toBe(200);
  return key;
}

async function enrollmentToken(admin: Admin, labels: Record<string, string> = {}): Promise<string> {
  const created = await api<{ token: string }>(admin.url, 'POST', '/v1/enrollment-tokens', {
    token: admin.token,
    body: { maxUses: 1, labels },
  });
  expect(created.status).toBe(201);
  return created.body.token;
}

async function target(admin: Admin, id: string): Promise<Target> {
  return (await api<Target>(admin.url, 'GET', `/v1/targets/${id}`, { token: admin.token })).body;
}

async function applied(admin: Admin, id: string): Promise<Target> {
  return waitFor(`target ${id} to apply and report its desired generation`, async () => {
    const current = await target(admin, id);
    return (
      current.observed?.generation === current.desired.generation && current.observed.phase === 'applied' && current
    );
  });
}

async function resyncs(admin: Admin, id: string): Promise<unknown[]> {
  const history = await api<{ entries: unknown[] }>(
    admin.url,
    'GET',
    `/v1/targets/${id}/history?action=report.seq-resync`,
    { token: admin.token },
  );
  return history.body.entries;
}

/** Reads the hub's database: the report numbers each target has, and SQLite's own check. */
function readStore(dataDir: string): { integrity: unknown; seqs: Record<string, number[]> } {
  const db = new Database(join(dataDir, 'hub.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT target_id, seq FROM reports ORDER BY target_id, seq').all() as {
      target_id: string;
      seq: number;
    }[];
    const seqs: Record<string, number[]> = {};
    for (const row of rows) (seqs[row.target_id] ??= []).push(row.seq);
    return { integrity: db.pragma('integrity_check', { simple: true }), seqs };
  } finally {
    db.close();
  }
}

/** The generation each stored report of a target names, in seq order. */
function reportedGenerations(dataDir: string, targetId: string): number[] {
  const db = new Database(join(dataDir, 'hub.db'), { readonly: true });
  try {
    return db
      .prepare('SELECT generation FROM reports WHERE target_id = ? ORDER BY seq')
      .pluck()
      .all(targetId) as number[];
  } finally {
    db.close();
  }
}

/** 1, 2, … n: every report the agent numbered, each once. */
function contiguous(seqs: number[] | undefined): number[] {
  return Array.from({ length: seqs?.length ?? 0 }, (_, i) => i + 1);
}

/** Enrolls a target through the API, as an agent would, with no agent behind it. */
async function enrollBare(admin: Admin, labels: Record<string, string>): Promise<string> {
  const token = await enrollmentToken(admin, labels);
  const key = generateKeyPair();
  const issuedAt = new Date().toISOString();
  const enrolled = await api<{ targetId: string }>(admin.url, 'POST', '/v1/enroll', {
    body: {
      token,
      publicKey: key.publicKey,
      issuedAt,
      proof: signPayload('enroll', { publicKey: key.publicKey, tokenDigest: sha256(token), issuedAt }, key),
    },
  });
  expect(enrolled.status).toBe(201);
  return enrolled.body.targetId;
}

interface IssuedMember {
  readonly target_id: string;
  readonly issued: number;
  readonly generation: number;
  readonly desired_generation: number;
  readonly envelope_generation: number | null;
}

/** Each member of the rollout: whether it is issued, its generation, and its target's desired and envelope generations. */
function members(dataDir: string, rolloutId: string): IssuedMember[] {
  const db = new Database(join(dataDir, 'hub.db'), { readonly: true });
  try {
    return db
      .prepare(
        `SELECT m.target_id, m.issued, m.generation, t.desired_generation, json_extract(t.envelope, '$.envelope.generation') AS envelope_generation
        FROM rollout_members m JOIN targets t ON t.id = m.target_id WHERE m.rollout_id = ? ORDER BY m.target_id`,
      )
      .all(rolloutId) as IssuedMember[];
  } finally {
    db.close();
  }
}

/** What a report prune left in the hub's database: each target's report seqs, its floor, the tally not yet audited. */
function pruneState(dataDir: string, targets: readonly string[]) {
  const db = new Database(join(dataDir, 'hub.db'), { readonly: true });
  try {
    const seqs = db.prepare('SELECT seq FROM reports WHERE target_id = ? ORDER BY seq');
    const floor = db.prepare('SELECT pruned_through FROM report_floors WHERE target_id = ?');
    const tally = db.prepare('SELECT removed FROM report_prune_tally WHERE id = 1').get() as
      { removed: number } | undefined;
    return {
      integrity: db.pragma('integrity_check', { simple: true }),
      seqs: targets.map((id) => (seqs.all(id) as { seq: number }[]).map((r) => r.seq)),
      floors: targets.map((id) => (floor.get(id) as { pruned_through: number } | undefined)?.pruned_through ?? 0),
      tally: tally?.removed ?? 0,
    };
  } finally {
    db.close();
  }
}

/** The hub's database file as a reader sees it: whole, its reports' seqs, its free pages, and its size with the WAL's. */
function fileState(dataDir: string) {
  const path = join(dataDir, 'hub.db');
  const db = new Database(path, { readonly: true });
  try {
    return {
      integrity: db.pragma('integrity_check', { simple: true }),
      seqs: (db.prepare('SELECT seq FROM reports ORDER BY seq').all() as { seq: number }[]).map((r) => r.seq),
      free: db.pragma('freelist_count', { simple: true }) as number,
      bytes: statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0),
    };
  } finally {
    db.close();
  }
}

/**
 * Writes reports straight into a stopped hub's database, each as a minimal signed document
 * received at `receivedAt`, padded with `pad` where a test needs them to take room.
 */
function writeReports(
  dataDir: string,
  reports: ReadonlyArray<{ targetId: string; seq: number; receivedAt: number }>,
  pad = '',
) {
  const db = new Database(join(dataDir, 'hub.db'));
  try {
    const insert = db.prepare(
      'INSERT INTO reports (target_id, seq, generation, received_at, signed) VALUES (?, ?, 0, ?, ?)',
    );
    db.transaction(() => {
      for (const { targetId, seq, receivedAt } of reports)
        insert.run(
          targetId,
          seq,
          receivedAt,
          JSON.stringify({
            report: { targetId, seq, generation: 0, phase: 'applied', bundles: [] },
            signature: {},
            ...(pad === '' ? {} : { pad }),
          }),
        );
    })();
  } finally {
    db.close();
  }
}

async function expectChainIntact(admin: Admin): Promise<void> {
  const verify = await api(admin.url, 'GET', '/v1/audit/verify', { token: admin.token });
  expect(verify.body).toMatchObject({ ok: true });
}

/** Starts the hub process with `env` on `dataDir` and publishes `app@1.0.0` to it. */
async function hubWithApp(
  dataDir: string,
  env: Record<string, string>,
): Promise<{ readonly hub: HubProcess; readonly admin: Admin }> {
  const hub = await startHubProcess({ dataDir, env });
  hubProcess = hub;
  const admin = { url: hub.url, token: hub.adminToken };
  await publish(admin, await releaseKey(admin), 'app', '1.0.0', [configMap('app', { version: '1' })]);
  return { hub, admin };
}

/**
 * Rolls `app@1.0.0` out to `env=test` in one wave, whose steps reach the hub's fault point: the
 * id of the rollout the store holds. The create answers in the turn after its first slice (the
 * answer's view is built there), so a kill in the work queued behind that slice (the next
 * slice, a batch of envelopes) may come before the answer; when the answer came, it names the
 * same rollout.
 */
async function rolloutKillingTheHub(hub: HubProcess, admin: Admin, dataDir: string): Promise<string> {
  const created = await api<{ rollout: { id: string } }>(admin.url, 'POST', '/v1/rollouts', {
    token: admin.token,
    body: { release: 'app@1.0.0', selector: 'env=test', waves: 'all:100%' },
  }).catch((error: unknown) => error);
  expect(await hub.exited).toEqual({ code: null, signal: 'SIGKILL' });
  const db = new Database(join(dataDir, 'hub.db'), { readonly: true });
  const ids = (() => {
    try {
      return (db.prepare('SELECT id FROM rollouts').all() as { id: string }[]).map((row) => row.id);
    } finally {
      db.close();
    }
  })();
  expect(ids).toHaveLength(1);
  if (!(created instanceof Error)) expect(created).toMatchObject({ status: 201, body: { rollout: { id: ids[0] } } });
  return ids[0]!;
}

/**
 * A hub with `app` at each of `versions`, and an agent enrolled with `fault` armed, killed there
 * once the target is assigned `app@1.0.0`: what the tests need to look and start it again.
 */
async function agentKilledAtFirstAssignment(prefix: string, fault: string, versions: readonly string[]) {
  dir = tempDir(prefix);
  const hub = await startHub();
  hubFixture = hub;
  const admin = { url: hub.url, token: hub.adminToken };
  for (const version of versions)
    await hub.publish('app', version, [configMap('app', { version: version.split('.')[0]! })]);
  const stateDir = join(dir.path, 'state');
  const root = join(dir.path, 'root');
  agentProcess = await startAgentProcess({
    hubUrl: admin.url,
    stateDir,
    root,
    enrollToken: await hub.enrollmentToken(1),
    name: 'edge',
    env: { FLOTILLA_FAULT: fault },
  });
  const { targetId } = JSON.parse(readFileSync(join(stateDir, 'enrollment.json'), 'utf8')) as { targetId: string };
  expect((await hub.assign(targetId, ['app@1.0.0'])).status).toBe(200);
  expect(await agentProcess.exited).toEqual({ code: null, signal: 'SIGKILL' });
  return { hub, admin, stateDir, root, targetId };
}

describe('a process killed with SIGKILL at a chosen point', () => {
  it("the hub, in the middle of a batch of a wave's envelopes: after a restart each member has exactly one envelope for its generation", async () => {
    dir = tempDir('flotilla-kill-issue-');
    const dataDir = join(dir.path, 'hub');
    // Batches of at most 3, from the start (no agent fetches): killed while staging the fifth member, so at least one batch committed and one did not.
    const env = {
      FLOTILLA_ROLLOUT_ISSUE_BATCH: '3',
      FLOTILLA_ROLLOUT_ISSUE_DELAY_MS: '0',
      FLOTILLA_FAULT: 'rollout:issue:5',
    };
    const { hub, admin } = await hubWithApp(dataDir, env);
    const targets: string[] = [];
    for (let i = 0; i < 8; i++) targets.push(await enrollBare(admin, { env: 'test' }));
    const id = await rolloutKillingTheHub(hub, admin, dataDir);

    // Every member was recorded with the create; only whole batches were issued.
    const cut = members(dataDir, id);
    expect(cut.map((m) => m.target_id)).toEqual([...targets].sort());
    const issued = cut.filter((m) => m.issued === 1);
    expect(issued.length).toBeGreaterThan(0);
    expect(issued.length).toBeLessThan(5);
    for (const m of cut)
      expect(m).toMatchObject(
        m.issued === 1
          ? { generation: 1, desired_generation: 1, envelope_generation: 1 }
          : { generation: 0, desired_generation: 0, envelope_generation: null },
      );

    hubProcess = await startHubProcess({ dataDir, port: hub.port });
    await waitFor('every member issued after the restart', () => members(dataDir, id).every((m) => m.issued === 1));
    expect(members(dataDir, id)).toEqual(
      cut.map((m) => ({
        target_id: m.target_id,
        issued: 1,
        generation: 1,
        desired_generation: 1,
        envelope_generation: 1,
      })),
    );
    await expectChainIntact(admin);
    expect(await hubProcess.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(readStore(dataDir).integrity).toBe('ok');
  });

  it('the hub, between two batches of a report prune: after a restart nothing is half pruned, and the next prune finishes and audits it all', async () => {
    dir = tempDir('flotilla-kill-prune-');
    const dataDir = join(dir.path, 'hub');
    hubProcess = await startHubProcess({ dataDir });
    const admin = { url: hubProcess.url, token: hubProcess.adminToken };
    const targets: string[] = [];
    for (let i = 0; i < 3; i++) targets.push(await enrollBare(admin, {}));
    expect(await hubProcess.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    // Seqs 1 to 4 of each target, 40 days old; the first target's seq 5 is recent. Ten are past
    // retention: all but each target's newest.
    const old = Date.now() - 40 * 86_400_000;
    writeReports(dataDir, [
      ...[1, 2, 3, 4].flatMap((seq) =>
        targets.map((targetId, i) => ({ targetId, seq, receivedAt: old + seq * 10 + i })),
      ),
      { targetId: targets[0]!, seq: 5, receivedAt: Date.now() },
    ]);

    // Batches of 2: killed in the third, so two committed and the third did not.
    const killed = spawnHubProcess({
      dataDir,
      env: { FLOTILLA_TEST_REPORT_PRUNE_BATCH: '2', FLOTILLA_FAULT: 'report-retention:batch:3' },
    });
    expect(await killed.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // Two batches of two gone, each with its floor: every target holds exactly the seqs above
    // its floor, up to its newest; the tally holds the four for the next prune's audit entry.
    const cut = pruneState(dataDir, targets);
    expect(cut).toMatchObject({ integrity: 'ok', tally: 4 });
    const newest = [5, 4, 4];
    expect(cut.seqs).toEqual(
      cut.floors.map((floor, i) => Array.from({ length: newest[i]! - floor }, (_, k) => floor + 1 + k)),
    );
    expect(cut.floors.reduce((sum, floor) => sum + floor, 0)).toBe(4);

    hubProcess = await startHubProcess({ dataDir });
    const restarted = { url: hubProcess.url, token: admin.token };
    const prunes = await waitFor('the prune at start to be audited', async () => {
      const found = await api<{ entries: Array<{ actor: unknown; details: Record<string, unknown> }> }>(
        restarted.url,
        'GET',
        '/v1/audit?action=report.prune',
        { token: restarted.token },
      );
      return found.body.entries.length > 0 && found.body.entries;
    });
    expect(prunes).toHaveLength(1);
    expect(prunes[0]).toMatchObject({ actor: { kind: 'system', id: 'report-retention' }, details: { removed: 10 } });
    expect(pruneState(dataDir, targets)).toEqual({
      integrity: 'ok',
      seqs: [[5], [4], [4]],
      floors: [4, 3, 3],
      tally: 0,
    });
    await expectChainIntact(restarted);
  });

  it("the hub, between two slices of giving a prune's free pages back: the store is whole, and after a restart the rest is given back", async () => {
    dir = tempDir('flotilla-kill-free-pages-');
    const dataDir = join(dir.path, 'hub');
    hubProcess = await startHubProcess({ dataDir });
    const target = await enrollBare({ url: hubProcess.url, token: hubProcess.adminToken }, {});
    expect(await hubProcess.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    // 3,000 reports of about 2 KB, 40 days old, and a recent newest: the prune at start
    // removes all but that one and leaves about 1,500 free pages, three slices and more.
    const old = Date.now() - 40 * 86_400_000;
    writeReports(
      dataDir,
      [
        ...Array.from({ length: 3000 }, (_, i) => ({ targetId: target, seq: i + 1, receivedAt: old + i })),
        { targetId: target, seq: 3001, receivedAt: Date.now() },
      ],
      'x'.repeat(2000),
    );
    const full = fileState(dataDir);

    const killed = spawnHubProcess({ dataDir, env: { FLOTILLA_FAULT: 'free-pages:slice:2' } });
    expect(await killed.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const cut = fileState(dataDir);
    expect(cut).toMatchObject({ integrity: 'ok', seqs: [3001] });
    expect(cut.free).toBeGreaterThan(512);

    hubProcess = await startHubProcess({ dataDir });
    await waitFor('the rest of the free pages to be given back', () => fileState(dataDir).free < 256);
    expect(await hubProcess.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    hubProcess = undefined;
    const after = fileState(dataDir);
    expect(after).toMatchObject({ integrity: 'ok', seqs: [3001] });
    expect(after.bytes).toBeLessThan(full.bytes / 4);
  });

  it("the hub, issuing a member's envelope on its agent's fetch: after a restart the agent's fetch issues it, once", async () => {
    dir = tempDir('flotilla-kill-fetch-issue-');
    const dataDir = join(dir.path, 'hub');
    // Batches wait an hour for the agents' fetches, so the agent's fetch is what issues, and is killed.
    const fetchesOnly = { FLOTILLA_ROLLOUT_ISSUE_DELAY_MS: '3600000' };
    const { hub, admin } = await hubWithApp(dataDir, { ...fetchesOnly, FLOTILLA_FAULT: 'rollout:issue:1' });
    const agent = await startAgent(admin.url, await enrollmentToken(admin, { env: 'test' }), {
      dir: join(dir.path, 'edge'),
    });
    agents.push(agent);
    await waitFor('the agent to hold its stream', () => agent.agent.stream?.state === 'open');
    const id = await rolloutKillingTheHub(hub, admin, dataDir);

    // The fetch's transaction was lost whole: the member still waits and its target is untouched.
    const waiting = { target_id: agent.targetId, issued: 0, generation: 0, desired_generation: 0 };
    expect(members(dataDir, id)).toEqual([{ ...waiting, envelope_generation: null }]);

    hubProcess = await startHubProcess({ dataDir, port: hub.port, env: fetchesOnly });
    // Greeted with no tag for the envelope the wave holds, the agent fetches it again, which issues it.
    await waitFor('the agent to apply generation 1', () => agent.agent.current.appliedGeneration === 1);
    expect(members(dataDir, id)).toEqual([
      { target_id: agent.targetId, issued: 1, generation: 1, desired_generation: 1, envelope_generation: 1 },
    ]);
    await expectChainIntact(admin);
    expect(await hubProcess.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(readStore(dataDir).integrity).toBe('ok');
  });

  it("the hub, between two slices of a wave's members: after a restart each target is a member once, issued once", async () => {
    dir = tempDir('flotilla-kill-enlist-');
    const dataDir = join(dir.path, 'hub');
    // Slices of three: the create records the first, and the hub is killed recording the second.
    const env = { FLOTILLA_ROLLOUT_ENLIST_SLICE: '3', FLOTILLA_FAULT: 'rollout:enlist:2' };
    const { hub, admin } = await hubWithApp(dataDir, env);
    const targets: string[] = [];
    for (let i = 0; i < 8; i++) targets.push(await enrollBare(admin, { env: 'test' }));
    const id = await rolloutKillingTheHub(hub, admin, dataDir);

    // Only the first slice committed; the second's transaction was lost whole.
    expect(members(dataDir, id)).toHaveLength(3);

    hubProcess = await startHubProcess({ dataDir, port: hub.port, env: { FLOTILLA_ROLLOUT_ENLIST_SLICE: '3' } });
    await waitFor('every target a member and issued after the restart', () => {
      const now = members(dataDir, id);
      return now.length === targets.length && now.every((m) => m.issued === 1);
    });
    expect(members(dataDir, id)).toEqual(
      [...targets].sort().map((target_id) => ({
        target_id,
        issued: 1,
        generation: 1,
        desired_generation: 1,
        envelope_generation: 1,
      })),
    );
    // The wave started once; the rest joined in slices, each target named once.
    const entries = async (action: string) =>
      (
        await api<{ entries: { subjects: string[]; details: Record<string, unknown> }[] }>(
          admin.url,
          'GET',
          `/v1/audit?action=${action}&limit=100`,
          { token: admin.token },
        )
      ).body.entries.filter((e) => e.details['rollout'] === id);
    const starts = await entries('rollout.wave.start');
    expect(starts).toHaveLength(1);
    const named = [...starts, ...(await entries('rollout.member.join'))].flatMap((e) => e.subjects);
    expect([...named].sort()).toEqual([...targets].sort());
    await expectChainIntact(admin);
    expect(await hubProcess.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(readStore(dataDir).integrity).toBe('ok');
  });

  it('the hub, inside the transaction storing a report: the agent sends it again and it is stored once', async () => {
    dir = tempDir('flotilla-kill-report-');
    const dataDir = join(dir.path, 'hub');
    hubProcess = await startHubProcess({ dataDir, env: { FLOTILLA_FAULT: 'report:before-commit:1' } });
    const admin = { url: hubProcess.url, token: hubProcess.adminToken };
    const key = await releaseKey(admin);
    await publish(admin, key, 'app', '1.0.0', [configMap('app', { version: '1' })]);
    const agent = await startAgent(admin.url, await enrollmentToken(admin), {
      dir: join(dir.path, 'edge'),
      probeMs: 50,
    });
    agents.push(agent);
    expect(
      (
        await api(admin.url, 'POST', `/v1/targets/${agent.targetId}/assign`, {
          token: admin.token,
          body: { bundles: ['app@1.0.0'] },
        })
      ).status,
    ).toBe(200);
    expect(await hubProcess.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(readStore(dataDir).seqs[agent.targetId]).toBeUndefined();

    hubProcess = await startHubProcess({ dataDir, port: hubProcess.port });
    const done = await applied(admin, agent.targetId);
    expect(done.desired.generation).toBe(1);
    expect(await resyncs(admin, agent.targetId)).toEqual([]);
    await expectChainIntact(admin);
    expect(await hubProcess.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    const store = readStore(dataDir);
    expect(store.integrity).toBe('ok');
    expect(store.seqs[agent.targetId]).toEqual(contiguous(store.seqs[agent.targetId]));
    expect(store.seqs[agent.targetId]!.at(-1)).toBe(done.observed!.seq);
  });

  it('the hub, as its worker checkpoints the WAL while it writes: every acknowledged write is there after a restart', async () => {
    dir = tempDir('flotilla-kill-checkpoint-');
    const dataDir = join(dir.path, 'hub');
    // The first checkpoints are of the hub's start; the third is of the writes below.
    hubProcess = await startHubProcess({ dataDir, env: { FLOTILLA_FAULT: 'wal-checkpoint:start:3' } });
    const admin = { url: hubProcess.url, token: hubProcess.adminToken };
    const acknowledged: string[] = [];
    const writer = async (lane: number): Promise<void> => {
      for (let i = 0; ; i++) {
        const description = `lane ${lane} write ${i}`;
        try {
          const created = await api(admin.url, 'POST', '/v1/enrollment-tokens', {
            token: admin.token,
            body: { maxUses: 1, labels: {}, description },
          });
          if (created.status === 201) acknowledged.push(description);
        } catch {
          return;
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(writer));
    expect(await hubProcess.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(acknowledged.length).toBeGreaterThan(0);

    hubProcess = await startHubProcess({ dataDir, port: hubProcess.port });
    const listed = await api<{ items: { description?: string }[] }>(admin.url, 'GET', '/v1/enrollment-tokens', {
      token: admin.token,
    });
    const stored = new Set(listed.body.items.map((item) => item.description));
    expect(acknowledged.filter((description) => !stored.has(description))).toEqual([]);
    await expectChainIntact(admin);
    expect(await hubProcess.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(readStore(dataDir).integrity).toBe('ok');
  });

  it('the agent, after the hub stored its report and before it noted so: the report is not doubled and no gap is flagged', async () => {
    const { hub, admin, stateDir, root, targetId } = await agentKilledAtFirstAssignment(
      'flotilla-kill-sent-',
      'report:after-send:1',
      ['1.0.0', '2.0.0'],
    );
    const stored = readStore(hub.dataDir).seqs[targetId];
    expect(stored).toEqual([1]);

    agentProcess = await startAgentProcess({ hubUrl: admin.url, stateDir, root, name: 'edge' });
    await applied(admin, targetId);
    expect((await hub.assign(targetId, ['app@2.0.0'])).status).toBe(200);
    const done = await applied(admin, targetId);
    expect(await resyncs(admin, targetId)).toEqual([]);
    const seqs = readStore(hub.dataDir).seqs[targetId];
    expect(seqs).toEqual(contiguous(seqs));
    expect(seqs!.at(-1)).toBe(done.observed!.seq);
    expect(agentProcess.logs.filter((l) => l['level'] !== undefined && Number(l['level']) >= 50)).toEqual([]);
  });

  it('the agent, while saving the drift policy it fetched: no file of it or a complete one, and the restart applies', async () => {
    const { hub, admin, stateDir, root, targetId } = await agentKilledAtFirstAssignment(
      'flotilla-kill-policy-',
      'drift-policy:before-rename:1',
      ['1.0.0'],
    );
    const policies = join(stateDir, 'drift-policies');
    const named = () => readdirSync(policies).filter((name) => name.startsWith('sha256-'));
    expect(named()).toEqual([]);
    // Nothing of generation 1 was applied or reported (the agent may have reported, before the
    // assignment, that it has nothing yet: generation 0).
    expect(reportedGenerations(hub.dataDir, targetId).filter((g) => g > 0)).toEqual([]);

    agentProcess = await startAgentProcess({ hubUrl: admin.url, stateDir, root, name: 'edge' });
    const done = await applied(admin, targetId);
    expect(done.desired.generation).toBe(1);
    const [file] = named();
    expect(`sha256:${file!.slice('sha256-'.length, -'.json'.length)}`).toBe(
      sha256(readFileSync(join(policies, file!), 'utf8')),
    );
    // The temporary file the kill left is not kept beside it.
    expect(readdirSync(policies)).toEqual([file]);
  });

  it('the hub, inside a rollout step, twice in a row: it resumes on restart, each wave started once and each envelope bumped once', async () => {
    dir = tempDir('flotilla-kill-rollout-');
    const dataDir = join(dir.path, 'hub');
    hubProcess = await startHubProcess({ dataDir, env: { FLOTILLA_FAULT: 'rollout:before-commit:2' } });
    const admin = { url: hubProcess.url, token: hubProcess.adminToken };
    const key = await releaseKey(admin);
    await publish(admin, key, 'app', '1.0.0', [configMap('app', { version: '1' })]);
    for (let i = 0; i < 3; i++)
      agents.push(
        await startAgent(admin.url, await enrollmentToken(admin, { env: 'test' }), {
          name: `edge-${i}`,
          dir: join(dir.path, `edge-${i}`),
          probeMs: 50,
        }),
      );
    const created = await api<{ rollout: { id: string } }>(admin.url, 'POST', '/v1/rollouts', {
      token: admin.token,
      body: { release: 'app@1.0.0', selector: 'env=test', waves: 'first:34%,second:67%,rest:100%', bake: 0 },
    });
    expect(created.status).toBe(201);
    const id = created.body.rollout.id;
    expect(await hubProcess.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // Killed part-way: the first wave's step committed, the second's did not.
    const expectFirstWaveOnly = () => {
      const db = new Database(join(dataDir, 'hub.db'), { readonly: true });
      try {
        expect(db.prepare('SELECT state FROM rollouts WHERE id = ?').pluck().get(id)).toBe('running');
        expect(db.prepare('SELECT count(*) FROM rollout_waves WHERE rollout_id = ?').pluck().get(id)).toBe(1);
      } finally {
        db.close();
      }
    };
    expectFirstWaveOnly();
    // Twice in a row: the step taken again on restart is cut short too.
    const again = spawnHubProcess({
      dataDir,
      port: hubProcess.port,
      env: { FLOTILLA_FAULT: 'rollout:before-commit:1' },
    });
    expect(await again.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expectFirstWaveOnly();

    hubProcess = await startHubProcess({ dataDir, port: hubProcess.port });
    await waitFor('the rollout to complete after the restart', async () => {
      const status = await api<{ state: string }>(admin.url, 'GET', `/v1/rollouts/${id}`, { token: admin.token });
      return status.body.state === 'completed';
    });
    for (const agent of agents) expect((await applied(admin, agent.targetId)).desired.generation).toBe(1);
    const starts = await api<{ entries: { details: Record<string, unknown> }[] }>(
      admin.url,
      'GET',
      '/v1/audit?action=rollout.wave.start&limit=100',
      { token: admin.token },
    );
    expect(starts.status).toBe(200);
    expect(
      starts.body.entries
        .filter((e) => e.details['rollout'] === id)
        .map((e) => e.details['waveName'])
        .sort(),
    ).toEqual(['first', 'rest', 'second']);
    await expectChainIntact(admin);
    expect(await hubProcess.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(readStore(dataDir).integrity).toBe('ok');
  });
});
