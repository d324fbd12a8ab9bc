import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { manifestFileName } from '@flotilla/agent';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { FLOTILLA, flotilla, start, type RunningProcess } from './fixtures/cli.ts';
import { waitFor } from './fixtures/wait-for.ts';

describe('-w/--watch on listings, piped', () => {
  let hub: HubFixture;
  let agents: AgentFixture[];
  let env: Record<string, string>;
  const watches: RunningProcess[] = [];

  /** `flotilla ARGS --watch --interval 1s`, its output a pipe. */
  const watch = (args: string[]): RunningProcess => {
    const running = start(process.execPath, [FLOTILLA, ...args, '--watch', '--interval', '1s'], { env });
    watches.push(running);
    return running;
  };

  beforeAll(async () => {
    hub = await startHub();
    const token = await hub.enrollmentToken(2);
    agents = await Promise.all(
      ['north', 'south'].map((name) => startAgent(hub.url, token, { name, observeIntervalMs: 150 })),
    );
    env = { FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: hub.adminToken };
  });

  afterEach(async () => {
    for (const running of watches.splice(0)) {
      running.child.kill('SIGINT');
      await running.exited;
    }
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.agent.stop()));
    await hub.dispose();
  });

  it('targets ls prints the listing, then a line for each target that changes', async () => {
    const [north] = agents;
    const targets = watch(['targets', 'ls']);
    await targets.waitFor(/^tgt_\S+\s+south\s+active/m);
    expect(targets.stdout()).toMatch(/^ID\s+NAME\s+STATUS/);
    await api(hub.url, 'POST', `/v1/targets/${north!.targetId}/disable`, { token: hub.adminToken, body: {} });
    await targets.waitFor(new RegExp(`\\n${north!.targetId}\\s+north\\s+disabled`));
    await api(hub.url, 'POST', `/v1/targets/${north!.targetId}/enable`, { token: hub.adminToken, body: {} });
    await targets.waitFor(new RegExp(`disabled[^\\n]*\\n${north!.targetId}\\s+north\\s+active`));
    // The unchanged target, and ages that moved by themselves, print nothing more.
    expect(targets.stdout().match(/south/g)).toHaveLength(1);
  });

  it('rollout ls prints a new rollout as a line, and again when its state changes', async () => {
    await hub.publish('app', '1.0.0', [configMap('app', { v: '1' })]);
    const rollouts = watch(['rollout', 'ls']);
    await rollouts.waitFor(/^ID\s+RELEASE\s+STATE/);
    // A long bake keeps it running until it is paused.
    const created = await flotilla(
      ['rollout', 'create', '--release', 'app@1.0.0', '--selector', 'name=north', '--bake', '1h'],
      env,
    );
    const id = /created rollout (\S+)/.exec(created.stdout)![1]!;
    await rollouts.waitFor(new RegExp(`\\n${id}\\s+app@1\\.0\\.0\\s+running`));
    await flotilla(['rollout', 'pause', id], env);
    await rollouts.waitFor(new RegExp(`\\n${id}\\s+app@1\\.0\\.0\\s+paused`));
  });

  it('drift ls prints an item when an agent reports it, and KEY (gone) when it clears', async () => {
    const [, south] = agents;
    const app = configMap('edge', { greeting: 'hello' });
    await hub.publish('edge', '1.0.0', [app]);
    await hub.assign(south!.targetId, ['edge@1.0.0']);
    const file = join(south!.root, manifestFileName(app));
    await waitFor('the file to be written', () => existsSync(file));
    const drift = watch(['drift', 'ls', '-q', 'name=south']);
    await drift.waitFor(/^ITEM\s+TARGET\s+CLASS/);
    writeFileSync(file, stringify({ ...app, data: { greeting: 'hi' } }));
    const [, item] = await drift.waitFor(
      /\n(\S+)\s+south\s+\w+\s+\w+\s+unknown\s+\S+\s+-\s+ConfigMap\/default\/edge data\.greeting/,
    );
    writeFileSync(file, stringify(app));
    await drift.waitFor(new RegExp(`\\nsouth ${item} \\(gone\\)`));
  });

  it('refuses --watch with -o json, saying what to do instead', async () => {
    const run = await flotilla(['targets', 'ls', '-w', '-o', 'json'], env);
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: 'flotilla: --watch draws a table; leave out -o json, or run without --watch for one json listing\n',
    });
  });
});
