import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../packages/hub/src/cli/program.ts';
import { COMMAND_GROUPS } from '../packages/hub/src/cli/command-groups.ts';
import { configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { flotilla, ROOT } from './fixtures/cli.ts';
import { tempDir } from './fixtures/temp-dir.ts';

describe.concurrent('flotilla explains itself', () => {
  it('prints its version with --version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'packages/hub/package.json'), 'utf8')) as {
      version: string;
    };
    const run = await flotilla(['--version']);
    expect(run).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('lists every command in its help, with the summary its module gives it', async () => {
    const help = await flotilla(['--help']);
    expect(help.code).toBe(0);
    const program = await buildProgram([], {}, { all: true });
    for (const group of COMMAND_GROUPS) {
      const command = program.commands.find((c) => c.name() === group.name);
      expect(command?.description(), group.name).toBe(group.summary);
      expect(command?.aliases()).toEqual(group.aliases ?? []);
      expect(help.stdout).toContain(`  ${[group.name, ...(group.aliases ?? [])].join('|')} `);
    }
  });

  it.each([
    [
      ['targts', 'ls'],
      "flotilla: unknown command 'targts' (did you mean targets?); 'flotilla --help' lists the commands",
    ],
    [
      ['targets', 'lss'],
      "flotilla: unknown command 'lss' (did you mean ls?); 'flotilla targets --help' lists the commands",
    ],
    [
      ['targets', 'ls', '--limt', '5'],
      "flotilla: unknown option '--limt' (did you mean --limit?); 'flotilla targets ls --help' lists its options",
    ],
    [
      ['targets', 'get'],
      "flotilla: missing required argument 'target'; usage: flotilla targets get [options] <target>",
    ],
    [
      ['rollout', 'create', '--waves'],
      "flotilla: option '--waves <waves>' argument missing; usage: flotilla rollout create [options]",
    ],
    [
      ['completion', 'pwsh'],
      "flotilla: the shell must be bash, zsh or fish; received 'pwsh'; see 'flotilla completion --help'",
    ],
  ])('answers %j with one line and a hint, and exits 1', async (args, line) => {
    expect(await flotilla(args)).toEqual({ code: 1, stdout: '', stderr: `${line}\n` });
  });

  it.each([
    [['targets', 'ls', '--limit', 'abc'], "--limit must be a whole number from 1 to 1000; received 'abc'"],
    [['targets', 'ls', '--limit', '0'], "--limit must be a whole number from 1 to 1000; received '0'"],
    [['drift', 'ls', '--limit', '2.5'], "--limit must be a whole number from 1 to 10000; received '2.5'"],
    [['rollout', 'ls', '--limit', '501'], "--limit must be a whole number from 1 to 500; received '501'"],
  ])('refuses %j before calling the hub, naming the option and its range', async (args, message) => {
    // No hub listens on port 9: a request would fail differently.
    const run = await flotilla([...args, '--hub', 'http://127.0.0.1:9']);
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `flotilla: ${message}; see '${`flotilla ${args.slice(0, 2).join(' ')}`} --help'\n`,
    });
  });

  it('names a token file that does not exist, where it was given, and what to do', async () => {
    const missing = join(ROOT, 'no-such-dir', 'admin-token');
    for (const [args, env, source] of [
      [['--token-file', missing, 'targets', 'ls'], {}, '--token-file'],
      [['targets', 'ls', '--token-file', missing], {}, '--token-file'],
      [['targets', 'ls'], { FLOTILLA_TOKEN_FILE: missing }, 'FLOTILLA_TOKEN_FILE'],
    ] as const) {
      const run = await flotilla([...args, '--hub', 'http://127.0.0.1:9'], env);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(
        `flotilla: the token file ${missing} (${source}) does not exist; give a file that holds an API token (a hub writes its first admin token to admin-token in its data directory), or save one with flotilla login\n`,
      );
    }
  });
});

describe('flotilla against a hub', () => {
  let hub: HubFixture;
  let agent: AgentFixture;
  let env: Record<string, string>;

  beforeAll(async () => {
    hub = await startHub();
    agent = await startAgent(hub.url, await hub.enrollmentToken(1), { name: 'edge-lisbon' });
    await hub.publish('app', '1.0.0', [configMap('app', { v: '1' })]);
    env = { FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: hub.adminToken };
  });

  afterAll(async () => {
    await agent.agent.stop();
    await hub.dispose();
  });

  it('says how to give a token when the hub wants one and none was given', async () => {
    const dir = tempDir('flotilla-cli-cwd-');
    try {
      // From a folder without .flotilla/hub/admin-token, and no context: no token at all.
      const run = await flotilla(['targets', 'ls', '--hub', hub.url], {}, { cwd: dir.path });
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(
        `flotilla: the hub at ${hub.url} needs an API token and none was given; save one with flotilla login --hub ${hub.url} --token-file FILE, or pass --token-file FILE (a hub writes its first admin token to admin-token in its data directory)\n`,
      );
    } finally {
      dir.remove();
    }
  });

  it('says where a refused token came from', async () => {
    const run = await flotilla(['targets', 'ls', '--hub', hub.url, '--token', 'fl_not_a_token']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^flotilla: .+ \(the token from --token\)\n$/);
  });

  it('refuses a wave that is a bare number, and says how to write a percentage or a selector', async () => {
    const run = await flotilla(
      ['rollout', 'create', '--release', 'app@1.0.0', '--selector', '', '--waves', 'canary:20,rest:100%'],
      env,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      "flotilla: waves[0]: wave 'canary' is '20', which is neither a percentage nor a selector; write canary:20% for 20% of the selected targets, or a selector such as canary:tier=staging\n",
    );
  });

  it('takes a target by id or by name in every command that names one', async () => {
    const id = agent.targetId;
    const byName = async (args: string[]): Promise<string> => {
      const run = await flotilla(args, env);
      expect(run.stderr, args.join(' ')).toBe('');
      expect(run.code, args.join(' ')).toBe(0);
      return run.stdout;
    };
    expect(await byName(['targets', 'get', 'edge-lisbon', '-o', 'json'])).toContain(`"id": "${id}"`);
    expect(await byName(['targets', 'label', 'edge-lisbon', 'site=lisbon'])).toBe(`${id} labels: site=lisbon\n`);
    expect(await byName(['targets', 'set', 'edge-lisbon', 'tier=edge'])).toBe(`${id} properties: tier="edge"\n`);
    expect(await byName(['targets', 'disable', 'edge-lisbon', '--reason', 'maintenance'])).toBe(
      `${id} (edge-lisbon) is disabled\n`,
    );
    expect(await byName(['targets', 'enable', 'edge-lisbon'])).toBe(`${id} (edge-lisbon) is active\n`);
    expect(await byName(['assign', 'edge-lisbon', 'app@1.0.0'])).toMatch(
      new RegExp(`^${id} generation \\d+: app@1.0.0\\n$`),
    );
    expect(await byName(['targets', 'history', 'edge-lisbon', '-o', 'json'])).toContain('"target.disable"');
    expect(await byName(['drift', 'show', 'edge-lisbon', '-o', 'json'])).toContain(id);
    expect(await byName(['targets', 'get', id, '-o', 'json'])).toContain('"name": "edge-lisbon"');
    const unknown = await flotilla(['targets', 'history', 'edge-porto'], env);
    expect(unknown).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'flotilla: no target is called edge-porto; give its id (tgt_…) or its exact name (flotilla targets ls lists them)\n',
    });
  });
});
