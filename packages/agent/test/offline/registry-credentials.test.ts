import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  credentialsFromDockerConfig,
  credentialsFromSecret,
  loadRegistryCredentials,
} from '../../src/offline/registry-credentials.ts';
import { parseChallenge } from '../../src/offline/registry-client.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('registry credentials from a Docker config', () => {
  it.each([
    ['host:port', 'registry.site:5000'],
    ['an https URL with a path', 'https://registry.site:5000/v1/'],
    ['an http URL', 'http://registry.site:5000'],
  ])('find the entry named by %s', (_what, key) => {
    expect(
      credentialsFromDockerConfig({ auths: { [key]: { auth: b64('site:pw:with:colons') } } }, 'registry.site:5000'),
    ).toEqual({ kind: 'basic', username: 'site', password: 'pw:with:colons' });
  });

  it('take username and password, or a registry token as a bearer token', () => {
    expect(credentialsFromDockerConfig({ auths: { r: { username: 'u', password: 'p' } } }, 'r')).toEqual({
      kind: 'basic',
      username: 'u',
      password: 'p',
    });
    expect(credentialsFromDockerConfig({ auths: { r: { registrytoken: 't0k' } } }, 'r')).toEqual({
      kind: 'bearer',
      token: 't0k',
    });
  });

  it('are absent for a registry the config does not name', () => {
    expect(
      credentialsFromDockerConfig({ auths: { other: { username: 'u', password: 'p' } } }, 'registry.site'),
    ).toBeUndefined();
  });

  it('refuse an identity token (an OAuth refresh token) with a message that says what to use', () => {
    expect(() => credentialsFromDockerConfig({ auths: { r: { identitytoken: 'x' } } }, 'r')).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('registrytoken') }),
    );
  });

  it('refuse an auth that is not user:password', () => {
    expect(() => credentialsFromDockerConfig({ auths: { r: { auth: b64('nocolon') } } }, 'r')).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});

describe('registry credentials from a Kubernetes Secret', () => {
  const config = JSON.stringify({ auths: { 'registry.site': { username: 'u', password: 'p' } } });

  it.each([
    [
      'a dockerconfigjson Secret with data',
      { type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64(config) } },
    ],
    [
      'a dockerconfigjson Secret with stringData',
      { type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': config } },
    ],
    [
      'a legacy dockercfg Secret',
      {
        type: 'kubernetes.io/dockercfg',
        data: { '.dockercfg': b64(JSON.stringify({ 'registry.site': { username: 'u', password: 'p' } })) },
      },
    ],
    ['a basic-auth Secret', { type: 'kubernetes.io/basic-auth', data: { username: b64('u'), password: b64('p') } }],
  ])('read %s', (_what, fields) => {
    expect(
      credentialsFromSecret({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, ...fields }, 'registry.site'),
    ).toEqual({ kind: 'basic', username: 'u', password: 'p' });
  });

  it('refuse something that is not a Secret', () => {
    expect(() => credentialsFromSecret({ apiVersion: 'v1', kind: 'ConfigMap' }, 'r')).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('refuse a Secret without registry credentials', () => {
    expect(() => credentialsFromSecret({ apiVersion: 'v1', kind: 'Secret', data: { token: b64('x') } }, 'r')).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});

describe('registry credentials from a file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-creds-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('read a Secret manifest in YAML, as kubectl prints it', async () => {
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name: 's' },
      data: { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'r.site': { auth: b64('u:p') } } })) },
    };
    writeFileSync(join(dir, 'secret.yaml'), stringify(secret));
    expect(await loadRegistryCredentials(join(dir, 'secret.yaml'), 'r.site')).toEqual({
      kind: 'basic',
      username: 'u',
      password: 'p',
    });
  });

  it('refuse a file that is neither a Docker config nor a Secret, naming the file', async () => {
    writeFileSync(join(dir, 'x.json'), '{"registries": []}');
    await expect(loadRegistryCredentials(join(dir, 'x.json'), 'r')).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      details: { source: join(dir, 'x.json') },
    });
  });

  it('refuse a missing file', async () => {
    await expect(loadRegistryCredentials(join(dir, 'absent.json'), 'r')).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    });
  });
});

describe('registry auth challenges', () => {
  it.each([
    [
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
      },
    ],
    ['Basic realm="flotilla"', { scheme: 'basic', params: { realm: 'flotilla' } }],
    ['Bearer realm=https://a/t, service=s', { scheme: 'bearer', params: { realm: 'https://a/t', service: 's' } }],
    ['Bearer realm="a \\"quoted\\" realm"', { scheme: 'bearer', params: { realm: 'a "quoted" realm' } }],
  ])('parse %s', (header, expected) => {
    expect(parseChallenge(header)).toEqual(expected);
  });
});
