import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { flotilla } from './fixtures/cli.ts';

describe('flotilla targets', () => {
  let hub: HubFixture;
  let agents: AgentFixture[];
  let env: Record<string, string>;

  beforeAll(async () => {
    hub = await startHub();
    const token = await hub.enrollmentToken(3, { site: 'lab' });
    agents = await Promise.all(['alpha', 'bravo', 'charlie'].map((name) => startAgent(hub.url, token, { name })));
    env = { FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: hub.adminToken };
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.agent.stop()));
    await hub.dispose();
  });

  it('sets typed properties and labels, then selects by them with a query', async () => {
    const [alpha, bravo] = agents;
    expect(
      (await flotilla(['targets', 'set', alpha!.targetId, 'region=eu-west-1', 'owner=atlas', 'nodes=3'], env)).code,
    ).toBe(0);
    expect((await flotilla(['targets', 'set', bravo!.targetId, 'region=us-east-1', 'owner=atlas'], env)).code).toBe(0);
    expect((await flotilla(['targets', 'label', alpha!.targetId, 'frozen=true', 'site-'], env)).code).toBe(0);
    const listed = await flotilla(['targets', 'ls', '-q', 'region in (eu-*, us-*), owner=atlas', '-o', 'json'], env);
    expect(listed.code).toBe(0);
    const page = JSON.parse(listed.stdout) as {
      items: { name: string; properties: Record<string, unknown>; labels: Record<string, string> }[];
      total: number;
    };
    expect(page.total).toBe(2);
    expect(page.items.map((t) => t.name).sort()).toEqual(['alpha', 'bravo']);
    const alphaRecord = page.items.find((t) => t.name === 'alpha')!;
    expect(alphaRecord.properties).toEqual({ region: 'eu-west-1', owner: 'atlas', nodes: 3 });
    expect(alphaRecord.labels).toEqual({ frozen: 'true' });
  });

  it('prints a table that fits the terminal', async () => {
    const listed = await flotilla(['targets', 'ls'], { ...env, COLUMNS: '80' });
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+STATUS/);
    expect(lines).toHaveLength(4);
  });

  it('shows a query syntax error on one line with a caret under the column, and exits 1', async () => {
    const listed = await flotilla(['targets', 'ls', '-q', 'owner in (atlas'], env);
    expect(listed.code).toBe(1);
    const [message, query, caret] = listed.stderr.split('\n');
    expect(message).toMatch(/^flotilla: .*column 16/);
    expect(query).toBe('owner in (atlas');
    expect(caret).toBe(`${' '.repeat(15)}^`);
  });
});
