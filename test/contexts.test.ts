import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHub, type HubFixture } from './fixtures/hub-fixture.ts';
import { flotilla } from './fixtures/cli.ts';
import { tempDir } from './fixtures/temp-dir.ts';

/** A loopback port nothing listens on: connecting is refused. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

describe('contexts: flotilla login and flotilla context', () => {
  let hub: HubFixture;
  let other: HubFixture;
  let home: { path: string; remove: () => void };
  let tokenFile: string;
  /** A temporary HOME without XDG_CONFIG_HOME: the config goes to ~/.config/flotilla. */
  let env: Record<string, string>;
  let configFile: string;

  beforeAll(async () => {
    [hub, other] = await Promise.all([startHub(), startHub()]);
  });

  afterAll(async () => {
    await Promise.all([hub.dispose(), other.dispose()]);
  });

  beforeEach(() => {
    home = tempDir('flotilla-home-');
    tokenFile = join(home.path, 'admin-token');
    writeFileSync(tokenFile, `${hub.adminToken}\n`);
    env = { HOME: home.path, XDG_CONFIG_HOME: '' };
    configFile = join(home.path, '.config', 'flotilla', 'config.yaml');
    return () => home.remove();
  });

  it('saves the hub and token as a context, mode 0600 in a 0700 folder, and uses it from then on', async () => {
    const login = await flotilla(['login', '--hub', hub.url, '--token-file', tokenFile, '--name', 'lab'], env);
    expect(login).toEqual({
      code: 0,
      stdout: `logged in to ${hub.url}; context lab saved in ${configFile} and in use\n`,
      stderr: '',
    });
    expect(mode(configFile)).toBe('600');
    expect(mode(join(home.path, '.config', 'flotilla'))).toBe('700');
    expect(parse(readFileSync(configFile, 'utf8'))).toEqual({
      apiVersion: 'flotilla.io/v1',
      kind: 'CliConfig',
      currentContext: 'lab',
      contexts: [{ name: 'lab', hub: hub.url, token: hub.adminToken }],
    });
    // No flags, no variables: the context says where and with what.
    const listed = await flotilla(['targets', 'ls', '-o', 'json'], env);
    expect(listed.stderr).toBe('');
    expect(JSON.parse(listed.stdout)).toMatchObject({ items: [] });
  });

  it('reads the token from standard input with --token-file -, and names the context after the hub', async () => {
    const login = await flotilla(['login', '--hub', hub.url, '--token-file', '-'], env, {
      input: `${hub.adminToken}\n`,
    });
    const name = new URL(hub.url).host;
    expect(login.stdout).toBe(`logged in to ${hub.url}; context ${name} saved in ${configFile} and in use\n`);
    expect((await flotilla(['context', 'ls'], env)).stdout).toBe(
      `CURRENT  NAME${' '.repeat(name.length - 4)}  HUB\n*        ${name}  ${hub.url}\n`,
    );
  });

  it('saves nothing when the hub refuses the token or cannot be reached', async () => {
    writeFileSync(tokenFile, 'fl_wrong\n');
    const refused = await flotilla(['login', '--hub', hub.url, '--token-file', tokenFile], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^flotilla: .+ \\(the token from --token-file ${tokenFile}\\)\\n$`));
    const unreachable = await flotilla(['login', '--hub', 'http://127.0.0.1:9', '--token-file', tokenFile], env);
    expect(unreachable.stderr).toMatch(/^flotilla: cannot reach the hub at http:\/\/127\.0\.0\.1:9/);
    const noToken = await flotilla(['login', '--hub', hub.url], env);
    expect(noToken.stderr).toBe(
      'flotilla: give the API token with --token-file FILE, or --token-file - to read it from standard input\n',
    );
    expect((await flotilla(['context', 'ls', '-o', 'json'], env)).stdout).toBe(
      `${JSON.stringify({ currentContext: null, contexts: [] }, null, 2)}\n`,
    );
  });

  it('lists, switches and removes contexts; flags and FLOTILLA_* variables still win', async () => {
    writeFileSync(join(home.path, 'other-token'), other.adminToken);
    await flotilla(['login', '--hub', hub.url, '--token-file', tokenFile, '--name', 'lab'], env);
    await flotilla(
      ['login', '--hub', other.url, '--token-file', join(home.path, 'other-token'), '--name', 'prod'],
      env,
    );
    const hubIdOf = async (args: string[], extra: Record<string, string> = {}): Promise<string> => {
      const run = await flotilla([...args, 'keys', 'ls', '-o', 'json'], { ...env, ...extra });
      expect(run.stderr).toBe('');
      return (JSON.parse(run.stdout) as { trustRoot: { hubId: string } }).trustRoot.hubId;
    };
    const labId = hub.hub.services.trust.hubId;
    const prodId = other.hub.services.trust.hubId;
    // The last login is in use.
    expect(await hubIdOf([])).toBe(prodId);
    expect(await hubIdOf(['--context', 'lab'])).toBe(labId);
    expect(await hubIdOf([], { FLOTILLA_CONTEXT: 'lab' })).toBe(labId);
    // A hub given by flag or variable, with its token, wins over the context.
    expect(await hubIdOf(['--hub', hub.url, '--token', hub.adminToken])).toBe(labId);
    expect(await hubIdOf([], { FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: hub.adminToken })).toBe(labId);
    // The context's token goes only to the context's hub.
    const elsewhere = await flotilla(['--hub', hub.url, 'targets', 'ls'], env, { cwd: home.path });
    expect(elsewhere.stderr).toContain('needs an API token and none was given');

    expect((await flotilla(['context', 'use', 'lab'], env)).stdout).toBe('using context lab\n');
    expect(await hubIdOf([])).toBe(labId);
    expect((await flotilla(['context', 'ls'], env)).stdout).toBe(
      `CURRENT  NAME  HUB\n*        lab   ${hub.url}\n         prod  ${other.url}\n`,
    );
    expect((await flotilla(['context', 'rm', 'lab'], env)).stdout).toBe(
      'removed context lab; no context is in use now (flotilla context use NAME)\n',
    );
    expect(await flotilla(['context', 'use', 'lab'], env)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'flotilla: there is no context called lab; the contexts are prod\n',
    });
    expect((await flotilla(['--context', 'lab', 'targets', 'ls'], env)).stderr).toBe(
      'flotilla: there is no context called lab; the contexts are prod\n',
    );
  });

  it('saves several hub replicas in one context and moves past one that is down', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const login = await flotilla(['login', '--hub', dead, '--hub', hub.url, '--token-file', tokenFile], env);
    const name = new URL(dead).host;
    expect(login.stdout).toBe(`logged in to ${dead},${hub.url}; context ${name} saved in ${configFile} and in use\n`);
    expect(parse(readFileSync(configFile, 'utf8')).contexts).toEqual([
      { name, hub: `${dead},${hub.url}`, token: hub.adminToken },
    ]);
    const listed = await flotilla(['keys', 'ls', '-o', 'json'], env);
    expect(listed.stderr).toBe('');
    expect((JSON.parse(listed.stdout) as { trustRoot: { hubId: string } }).trustRoot.hubId).toBe(
      hub.hub.services.trust.hubId,
    );
    // The context's token goes to a replica the context names, given on its own.
    expect((await flotilla(['--hub', hub.url, 'keys', 'ls'], env)).stderr).toBe('');
  });

  it('names each replica it tried when none answers', async () => {
    const [a, b] = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
    const run = await flotilla(['targets', 'ls'], { ...env, FLOTILLA_HUB: `${a},${b}`, FLOTILLA_TOKEN: 't' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^flotilla: cannot reach the hub at ${a} \\(.+\\), nor at ${b} \\(.+\\);`));
  });

  it('keeps the config under $XDG_CONFIG_HOME when it is set', async () => {
    const xdg = join(home.path, 'xdg');
    await flotilla(['login', '--hub', hub.url, '--token-file', tokenFile, '--name', 'lab'], {
      ...env,
      XDG_CONFIG_HOME: xdg,
    });
    expect(mode(join(xdg, 'flotilla', 'config.yaml'))).toBe('600');
  });

  it('says which line of a broken config file is wrong and how to recover', async () => {
    await flotilla(['login', '--hub', hub.url, '--token-file', tokenFile, '--name', 'lab'], env);
    writeFileSync(configFile, 'contexts:\n  - name: lab\n    hub: not a url\n    token: t\n');
    const run = await flotilla(['targets', 'ls'], env);
    expect(run.stderr).toBe(
      `flotilla: the config file ${configFile} is not a Flotilla config: contexts.0.hub: must be an http(s) URL, or several separated by commas; fix it, or remove it and log in again\n`,
    );
  });
});
