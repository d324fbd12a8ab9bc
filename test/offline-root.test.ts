import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, generateKeyPair, signBundle, signPayload, type KeyPair } from '@flotilla/protocol';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { flotilla } from './fixtures/cli.ts';
import { tempDir } from './fixtures/temp-dir.ts';
import { waitFor } from './fixtures/wait-for.ts';

/*
 * The root key taken off the hub: trust root versions are drafted against the hub, signed on
 * "another machine" (a directory the hub never reads) with a threshold of root keys, and
 * published; the hub runs on without any root key, and agents follow the new versions.
 */

let hub: HubFixture;
let agent: AgentFixture;
let offline: ReturnType<typeof tempDir>;
let env: Record<string, string>;

const keyFile = (name: string, key: KeyPair): string => {
  const path = join(offline.path, name);
  writeFileSync(path, JSON.stringify(key), { mode: 0o600 });
  return path;
};

beforeAll(async () => {
  hub = await startHub();
  agent = await startAgent(hub.url, await hub.enrollmentToken(1));
  offline = tempDir('flotilla-offline-root-');
  await hub.stop();
  renameSync(join(hub.dataDir, 'keys', 'root.json'), join(offline.path, 'root.json'));
  await hub.restart();
  // The first request may meet a connection kept alive to the hub before its restart.
  await waitFor(
    'the hub up again',
    async () => (await api(hub.url, 'GET', '/v1/health').catch(() => undefined))?.status === 200,
  );
  env = { FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: hub.adminToken };
});

afterAll(async () => {
  await agent.agent.stop();
  await hub.dispose();
  offline.remove();
});

async function trustRootVersion(): Promise<number> {
  return (await api<{ trustRoot: { version: number } }>(hub.url, 'GET', '/v1/trust-root')).body.trustRoot.version;
}

async function applied(version: string): Promise<boolean> {
  try {
    return readFileSync(join(agent.root, 'default_configmap_app.yaml'), 'utf8').includes(version);
  } catch {
    return false;
  }
}

describe('a hub whose root key is offline', () => {
  it('still runs: its agents get and apply releases', async () => {
    expect((await api(hub.url, 'GET', '/v1/health')).status).toBe(200);
    await hub.publish('app', '1.0.0', [configMap('app', { v: '1.0.0' })]);
    expect((await hub.assign(agent.targetId, ['app@1.0.0'])).status).toBe(200);
    await waitFor('release 1.0.0 applied', () => applied('1.0.0'));
  });

  it('cannot sign a trust root itself, and says how to do it offline', async () => {
    const answer = await api(hub.url, 'POST', '/v1/trust-root/release-keys', {
      token: hub.adminToken,
      body: { publicKey: generateKeyPair().publicKey },
    });
    expect(answer.status).toBe(409);
    expect(answer.body.error).toMatchObject({
      code: 'ROOT_KEY_OFFLINE',
      message: expect.stringContaining('flotilla root sign'),
    });
  });

  it('publishes a version signed offline by a threshold of root keys, which agents follow', async () => {
    const before = await trustRootVersion();
    const secondRoot = keyFile('root-2.json', generateKeyPair());
    const release = generateKeyPair();
    const draft = join(offline.path, 'next.json');
    const drafted = await flotilla(
      [
        'root',
        'draft',
        '--out',
        draft,
        '--add-root-key',
        secondRoot,
        '--root-threshold',
        '2',
        '--add-release-key',
        keyFile('release-2.json', release),
      ],
      env,
    );
    expect(drafted.stderr).toBe('');
    expect(drafted.code).toBe(0);
    // Offline: no hub address, no token.
    expect((await flotilla(['root', 'sign', draft, '--key', join(offline.path, 'root.json')])).code).toBe(0);
    const short = JSON.parse(readFileSync(draft, 'utf8')) as unknown;
    const refused = await api(hub.url, 'POST', '/v1/trust-root', { token: hub.adminToken, body: short });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({
      code: 'TRUST_ROOT_INVALID',
      message: expect.stringContaining('2 are required'),
    });
    expect(await trustRootVersion()).toBe(before);

    expect((await flotilla(['root', 'sign', draft, '--key', secondRoot])).code).toBe(0);
    const published = await flotilla(['root', 'publish', draft], env);
    expect(published.stderr).toBe('');
    expect(published.stdout).toContain(`trust root v${before + 1} published`);
    expect(await trustRootVersion()).toBe(before + 1);

    const bundle = signBundle(
      {
        apiVersion: API_VERSION,
        kind: 'Bundle',
        name: 'app',
        version: '2.0.0',
        resources: [configMap('app', { v: '2.0.0' })],
      },
      [release],
    );
    expect((await api(hub.url, 'POST', '/v1/bundles', { token: hub.adminToken, body: bundle })).status).toBe(201);
    expect((await hub.assign(agent.targetId, ['app@2.0.0'])).status).toBe(200);
    await waitFor('release 2.0.0, signed by the new release key, applied', () => applied('2.0.0'));
    const pinned = JSON.parse(readFileSync(join(agent.stateDir, 'trust-root.json'), 'utf8')) as {
      trustRoot: { version: number };
    };
    expect(pinned.trustRoot.version).toBe(before + 1);
  });

  it('refuses the next version signed by one root key once the threshold is two', async () => {
    const current = (await api<{ trustRoot: Record<string, any> }>(hub.url, 'GET', '/v1/trust-root')).body.trustRoot;
    const usurper = generateKeyPair();
    const next = {
      ...current,
      version: current['version'] + 1,
      keys: [...current['keys'], { id: 'usurper', publicKey: usurper.publicKey, roles: ['release'] }],
    };
    const rootKey = JSON.parse(readFileSync(join(offline.path, 'root.json'), 'utf8')) as KeyPair;
    const answer = await api(hub.url, 'POST', '/v1/trust-root', {
      token: hub.adminToken,
      body: { trustRoot: next, signatures: [signPayload('trust-root', next, rootKey)] },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('TRUST_ROOT_INVALID');
    expect(await trustRootVersion()).toBe(current['version']);
    const audit = await api<{ entries: { action: string }[] }>(hub.url, 'GET', '/v1/audit?action=trust-root.publish', {
      token: hub.adminToken,
    });
    expect(audit.body.entries).toHaveLength(1);
  });
});
