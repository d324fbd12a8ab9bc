import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, generateKeyPair, signPayload, type Report } from '@flotilla/protocol';
import { call, ProtocolAgent, startTestHub, type TestHub } from '../support.ts';

let hub: TestHub;

beforeAll(async () => {
  hub = await startTestHub();
});

afterAll(async () => {
  await hub.close();
});

/** `{"a":{"a":…1…}}` nested `depth` levels: about 6 bytes a level, 120 KB at 20,000. */
function nested(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

describe('deeply nested JSON is refused with a 400 naming the limit, never a 500', () => {
  it('a bundle whose resource nests 20,000 levels deep', async () => {
    const release = generateKeyPair();
    const body =
      `{"bundle":{"apiVersion":"${API_VERSION}","kind":"Bundle","name":"deep","version":"1.0.0","resources":[` +
      `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep","namespace":"default"},"data":${nested(20_000)}}` +
      `]},"digest":"sha256:${'0'.repeat(64)}","signatures":[${JSON.stringify(signPayload('bundle', {}, release))}]}`;
    const answer = await call(hub.url, 'POST', '/v1/bundles', { token: hub.adminToken, body });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('JSON_TOO_DEEP');
    expect(answer.body.error.message).toMatch(/deeper than 256 levels/);
  });

  it('a report whose facts nest 20,000 levels deep', async () => {
    const created = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
      token: hub.adminToken,
      body: JSON.stringify({ maxUses: 1 }),
    });
    const agent = new ProtocolAgent(hub);
    await agent.enroll(created.body.token as string, 'deep-facts', hub.now());
    const report: Report = {
      apiVersion: API_VERSION,
      kind: 'Report',
      targetId: agent.targetId,
      seq: 1,
      generation: 0,
      phase: 'idle',
      health: 'healthy',
      bundles: [],
      resources: [],
      facts: { substrate: 'host' },
      observedAt: new Date(hub.now()).toISOString(),
    };
    const text = JSON.stringify({ report, signature: signPayload('report', report, agent.key) }).replace(
      '"substrate":"host"',
      `"substrate":"host","deep":${nested(20_000)}`,
    );
    const answer = await call(hub.url, 'POST', `/v1/targets/${agent.targetId}/reports`, {
      token: await agent.accessToken(hub.now()),
      body: text,
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('JSON_TOO_DEEP');
  });

  it('a drift policy in YAML or JSON that nests 20,000 levels deep', async () => {
    const yaml = await call(hub.url, 'PUT', '/v1/drift-policy', {
      token: hub.adminToken,
      body: `rules: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`,
      contentType: 'application/yaml',
    });
    expect(yaml.status).toBe(400);
    expect(yaml.body.error.code).toBe('JSON_TOO_DEEP');
    const json = await call(hub.url, 'PUT', '/v1/drift-policy', {
      token: hub.adminToken,
      body: `{"rules":${nested(20_000)}}`,
    });
    expect(json.status).toBe(400);
    expect(json.body.error.code).toBe('JSON_TOO_DEEP');
  });

  it('nesting up to the limit is still read', async () => {
    const answer = await call(hub.url, 'POST', '/v1/enrollment-tokens', {
      token: hub.adminToken,
      body: `{"maxUses":1,"description":"ok","labels":{}}`,
    });
    expect(answer.status).toBe(201);
  });
});
