import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, generateKeyPair, signBundle } from '@flotilla/protocol';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../../support.ts';

describe('rollout API', () => {
  let hub: TestHub;
  const agents: ProtocolAgent[] = [];

  const post = (path: string, body: unknown) =>
    call(hub.url, 'POST', path, { token: hub.adminToken, body: JSON.stringify(body) });
  const get = (path: string) => call(hub.url, 'GET', path, { token: hub.adminToken });

  beforeAll(async () => {
    hub = await startTestHub();
    const release = generateKeyPair();
    expect((await post('/v1/trust-root/release-keys', { publicKey: release.publicKey })).status).toBe(200);
    for (const version of ['1.0.0', '2.0.0']) {
      const signed = signBundle(
        {
          apiVersion: API_VERSION,
          kind: 'Bundle',
          name: 'app',
          version,
          resources: [
            { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default' }, data: { version } },
          ],
        },
        [release],
      );
      expect((await post('/v1/bundles', signed)).status).toBe(201);
    }
    const token = (await post('/v1/enrollment-tokens', { maxUses: 4, labels: { tier: 'web' } })).body.token as string;
    for (let i = 0; i < 4; i++) {
      const agent = new ProtocolAgent(hub);
      await agent.enroll(token, `web-${i}`, hub.now());
      agents.push(agent);
    }
  });

  afterAll(async () => {
    await hub.close();
  });

  it.each([
    [
      { release: 'app@9.9.9', selector: 'tier=web' },
      'VALIDATION_FAILED',
      /^release: release app@9\.9\.9 has not been published; publish it with 'flotilla release publish'/,
    ],
    [
      { release: 'app', selector: 'tier=web' },
      'VALIDATION_FAILED',
      /^release: release reference 'app' is neither name@version nor a sha256: digest/,
    ],
    [
      { release: 'app@2.0.0', selector: 'tier=web', waves: 'a:10%,b:5%,c:100%' },
      'VALIDATION_FAILED',
      /^waves\[1\]\.percent: percentages are cumulative and must grow/,
    ],
    [
      { release: 'app@2.0.0', selector: 'tier=web', waves: 'a:0.5%,b:120%' },
      'VALIDATION_FAILED',
      /^waves\[1\]\.percent: a wave's percentage is more than 0 and at most 100/,
    ],
    [
      { release: 'app@2.0.0', selector: 'tier=web', bake: '10 minutes' },
      'VALIDATION_FAILED',
      /^bake: a duration is a number and a unit/,
    ],
    [{ release: 'app@2.0.0', selector: 'tier=web', timeout: 'soon' }, 'VALIDATION_FAILED', /^timeout: a duration/],
    [
      { release: 'app@2.0.0', selector: 'tier=web', failureBudget: '5 percent' },
      'VALIDATION_FAILED',
      /^failureBudget: a failure budget is a count/,
    ],
    [
      { release: 'app@2.0.0', selector: 'tiers=web' },
      'QUERY_UNKNOWN_FIELD',
      /no target has the property or label 'tiers'; did you mean 'tier'\?/,
    ],
    [{ release: 'app@2.0.0', selector: 'tier in web' }, 'QUERY_SYNTAX', /expected '\('/],
    [
      { release: 'app@2.0.0', selector: { tier: 'web', lastSeen: '<15m' } },
      'QUERY_SYNTAX',
      /^lastSeen: '<15m' is not a time: for lastSeen within the last 15m write '>now-15m'/,
    ],
    [
      { release: 'app@2.0.0', selector: { labels: { tier: 'web' }, 'running.app': '>=latest' } },
      'QUERY_TYPE',
      /^running\.app: expected a number/,
    ],
    [
      { release: 'app@2.0.0', selector: 'tier=web', waves: [{ name: 'x', percent: 10, bake: '1m' }], extra: true },
      'VALIDATION_FAILED',
      /request body is invalid: Unrecognized key: "extra"/,
    ],
    [{ release: 'app@2.0.0' }, 'VALIDATION_FAILED', /selector/],
  ])('refuses %o with 400 %s', async (body, code, message) => {
    const answer = await post('/v1/rollouts', body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe(code);
    expect(answer.body.error.message).toMatch(message);
  });

  it('previews a plan without creating anything (dry run)', async () => {
    const answer = await post('/v1/rollouts', {
      release: 'app@2.0.0',
      selector: 'tier=web',
      waves: 'canary:25%,rest:100%',
      dryRun: true,
    });
    expect(answer.status).toBe(200);
    expect(answer.body.dryRun).toBe(true);
    expect(answer.body.rollout.waves.map((w: { counts: { planned: number } }) => w.counts.planned)).toEqual([1, 3]);
    expect((await get('/v1/rollouts')).body.items).toEqual([]);
  });

  it('selects with exclusions of labels no target has, and warns of a negation that looks like a typo', async () => {
    const excluded = await post('/v1/rollouts', {
      release: 'app@2.0.0',
      selector: { tier: 'web', exclude_labels: ['frozen', 'compliance-hold'] },
      dryRun: true,
    });
    expect(excluded.status).toBe(200);
    expect(excluded.body.rollout.selected).toBe(4);
    expect(excluded.body.warnings).toEqual([]);
    const waves = await post('/v1/rollouts', {
      release: 'app@2.0.0',
      selector: 'tier=web',
      waves: [
        { name: 'thawed', selector: { matchExpressions: [{ key: 'frozen', operator: 'DoesNotExist' }] } },
        { name: 'rest', percent: 100 },
      ],
      dryRun: true,
    });
    expect(waves.status).toBe(200);
    const typo = await post('/v1/rollouts', { release: 'app@2.0.0', selector: 'tier=web, !tierr', dryRun: true });
    expect(typo.status).toBe(200);
    expect(typo.body.warnings).toEqual([
      "no target has the property or label 'tierr', so its negation holds for every target; did you mean 'tier'? (at column 12)",
    ]);
  });

  it('creates a rollout that selects nobody, and says so', async () => {
    const answer = await post('/v1/rollouts', {
      release: 'app@1.0.0',
      selector: { tier: 'db', matchLabels: { tier: 'db' } },
    });
    expect(answer.status).toBe(201);
    expect(answer.body.warnings).toEqual([
      `the selector 'tier=db, labels.tier=db' matches no target now; targets that match it later join as the waves reach them`,
    ]);
    expect(answer.body.rollout.state).toBe('completed');
  });

  it('creates, shows, lists, steers and refuses overlapping rollouts', async () => {
    const created = await post('/v1/rollouts', {
      release: 'app@2.0.0',
      selector: 'tier=web',
      waves: 'canary:25%,rest:100%',
      bake: '10m',
      failureBudget: '25%',
      timeout: '1h',
    });
    expect(created.status).toBe(201);
    const id = created.body.rollout.id as string;
    expect(created.body.rollout).toMatchObject({
      state: 'running',
      currentWave: { index: 0, name: 'canary' },
      createdBy: { kind: 'user', id: 'admin' },
      plan: {
        waves: [
          { name: 'canary', spec: '25%' },
          { name: 'rest', spec: '100%' },
        ],
        bake: '10m',
        failureBudget: '25%',
        timeout: '1h',
        rollbackOnFailure: false,
      },
      selected: 4,
    });

    const view = (await get(`/v1/rollouts/${id}`)).body;
    expect(view.waves[0]).toMatchObject({
      name: 'canary',
      spec: '25%',
      state: 'in-progress',
      allowedFailures: 0,
      counts: { total: 1, pending: 1 },
    });
    expect(view.waves[1]).toMatchObject({ state: 'pending', counts: { total: 3, planned: 3 } });
    expect(view.members).toHaveLength(4);
    expect(view.membersTotal).toBe(4);
    expect((await get(`/v1/rollouts/${id}?members=none`)).body.members).toBeUndefined();

    const conflict = await post('/v1/rollouts', { release: 'app@1.0.0', selector: 'name=web-2' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error).toMatchObject({
      code: 'CONFLICT',
      details: { rollout: id, count: 1, targets: [agents[2]!.targetId] },
    });

    const listed = (await get('/v1/rollouts?state=running')).body.items;
    expect(listed.map((r: { id: string }) => r.id)).toEqual([id]);
    expect(listed[0]).toMatchObject({ release: { name: 'app', version: '2.0.0' }, waves: 2, members: 1 });

    expect((await post(`/v1/rollouts/${id}/resume`, {})).body.error.message).toBe(
      `rollout ${id} is running; only a rollout that is paused can be resumed`,
    );
    const paused = await call(hub.url, 'POST', `/v1/rollouts/${id}/pause`, { token: hub.adminToken });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ state: 'paused', reason: 'paused by admin' });
    expect((await post(`/v1/rollouts/${id}/resume`, { reason: 'go' })).body.state).toBe('running');
    const aborted = await post(`/v1/rollouts/${id}/abort`, { reason: 'not today' });
    expect(aborted.body).toMatchObject({ state: 'aborted', reason: 'not today' });
    const again = await post(`/v1/rollouts/${id}/pause`, {});
    expect(again.status).toBe(409);
    expect(again.body.error.message).toBe(`rollout ${id} is aborted; it is finished`);
    const rolledBack = await post(`/v1/rollouts/${id}/rollback`, {});
    expect(rolledBack.body.state).toBe('rolled-back');
  });

  it('answers 404 for an unknown rollout and 400 for a malformed id', async () => {
    expect((await get('/v1/rollouts/ro_0123456789abcdef')).status).toBe(404);
    const bad = await get('/v1/rollouts/nope');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/a rollout id looks like ro_ followed by 16 hex digits/);
    expect((await post('/v1/rollouts/nope/pause', {})).status).toBe(400);
  });

  it('needs an operator token', async () => {
    expect((await call(hub.url, 'GET', '/v1/rollouts')).status).toBe(401);
  });
});
