import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { extendDefaultDriftPolicy } from '@flotilla/protocol/drift';
import { manifestFileName } from '@flotilla/agent';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { waitFor } from './fixtures/wait-for.ts';

/*
 * A real agent under a policy that differs from the default where it shows: a hand edit of a
 * ConfigMap is acceptable under it and suspicious under the default. So the class reported says
 * which policy the agent classified with, whichever way its envelope carried it.
 */

let hub: HubFixture | undefined;
let edge: AgentFixture | undefined;

afterEach(async () => {
  await edge?.agent.stop();
  edge = undefined;
  await hub?.dispose();
  hub = undefined;
});

const RELAXED = extendDefaultDriftPolicy([
  { id: 'settings-are-free', match: { kinds: ['ConfigMap'] }, class: 'acceptable' },
]);

async function handEditClass(form: 'digest' | 'inline' | 'auto'): Promise<{ class: string; ruleId: string }> {
  hub = await startHub({ envelopeDriftPolicy: form });
  const set = await api(hub.url, 'PUT', '/v1/drift-policy', { token: hub.adminToken, body: RELAXED });
  expect(set.status, JSON.stringify(set.body)).toBe(200);
  const app = configMap('app', { greeting: 'hello' });
  await hub.publish('edge', '1.0.0', [app]);
  edge = await startAgent(hub.url, await hub.enrollmentToken(1), { name: 'edge', observeIntervalMs: 100 });
  expect((await hub.assign(edge.targetId, ['edge@1.0.0'])).status).toBe(200);
  const agent = edge.agent;
  await waitFor('the release to be applied', () => agent.current.appliedGeneration === 1, 10_000);
  writeFileSync(join(edge.root, manifestFileName(app)), stringify({ ...app, data: { greeting: 'hi' } }));
  const targetId = edge.targetId;
  const url = hub.url;
  const token = hub.adminToken;
  return waitFor(
    'the hand edit to be reported',
    async () => {
      const { body } = await api<{ items: { path: string; class: string; ruleId: string }[] }>(
        url,
        'GET',
        `/v1/targets/${targetId}/drift`,
        { token },
      );
      return body.items.find((item) => item.path === 'data.greeting') ?? false;
    },
    10_000,
  );
}

describe('the drift policy reaches a real agent', () => {
  it('named by digest: fetched once, kept in the state directory, and classified with', async () => {
    expect(await handEditClass('digest')).toMatchObject({ class: 'acceptable', ruleId: 'settings-are-free' });
    expect(readdirSync(join(edge!.stateDir, 'drift-policies'))).toHaveLength(1);
  });

  it('chosen agent by agent (auto): the agent says it reads digests, and a generation after its report names the policy', async () => {
    expect(await handEditClass('auto')).toMatchObject({ class: 'acceptable', ruleId: 'settings-are-free' });
    // The agent has reported (the hand edit): the next generation names the policy by digest.
    await hub!.publish('edge', '1.1.0', [configMap('app', { greeting: 'hello again' })]);
    expect((await hub!.assign(edge!.targetId, ['edge@1.1.0'])).status).toBe(200);
    const agent = edge!.agent;
    await waitFor('the next release to be applied', () => agent.current.appliedGeneration === 2, 10_000);
    expect(readdirSync(join(edge!.stateDir, 'drift-policies'))).toHaveLength(1);
  });

  it('carried whole, as an older hub signs it: classified with, and nothing fetched or kept', async () => {
    expect(await handEditClass('inline')).toMatchObject({ class: 'acceptable', ruleId: 'settings-are-free' });
    expect(readdirSync(join(edge!.stateDir, 'drift-policies'))).toEqual([]);
  });
});
