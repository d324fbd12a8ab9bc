import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, signBundle } from '@flotilla/protocol';
import { dsseEnvelope, ecdsaSigner, hexOf, statement } from '../packages/protocol/test/policy/policy-fixtures.ts';
import { flotilla } from './fixtures/cli.ts';
import { configMap, startHub, type HubFixture } from './fixtures/hub-fixture.ts';
import { tempDir } from './fixtures/temp-dir.ts';

// The operator's side of attestations and policy sets, through the real `flotilla` command.

describe('flotilla release publish --attestation, release show, keys register-attestation and policy-set', () => {
  let hub: HubFixture;
  let env: Record<string, string>;
  const dir = tempDir('flotilla-attest-cli-');
  const path = (name: string) => join(dir.path, name);
  const builder = ecdsaSigner('ci');
  const resource = configMap('app', { v: '1' }, 'apps');

  beforeAll(async () => {
    hub = await startHub();
    env = { FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: hub.adminToken };
    writeFileSync(path('release.key'), JSON.stringify(hub.releaseKey), { mode: 0o600 });
    writeFileSync(path('cosign.pub'), builder.key.publicKey);
    mkdirSync(path('manifests'));
    writeFileSync(path('manifests/app.json'), JSON.stringify(resource));
    // The digest `release publish` will compute, for the statement CI writes about it.
    const digest = signBundle(
      { apiVersion: API_VERSION, kind: 'Bundle', name: 'app', version: '1.0.0', resources: [resource] },
      [hub.releaseKey],
    ).digest;
    writeFileSync(
      path('app.intoto.json'),
      JSON.stringify(dsseEnvelope(statement(hexOf(digest), { repo: 'github.com/acme/app' }), [builder])),
    );
    writeFileSync(
      path('policy.yaml'),
      `apiVersion: flotilla.io/v1
kind: Policy
metadata: { name: other-source }
spec:
  scope: tier=prod
  artifacts: { provenance: { sourceRepositories: ["github.com/other/*"] } }
`,
    );
  });
  afterAll(async () => {
    await hub.dispose();
    dir.remove();
  });

  it('registers a cosign key as an attestation key', async () => {
    const added = await flotilla(['keys', 'register-attestation', path('cosign.pub'), '--name', 'ci'], env);
    expect(added.stderr).toBe('');
    expect(added.stdout).toMatch(/^attestation key [0-9a-f]{16} is in trust root v\d+\n$/);
    expect((await flotilla(['keys', 'ls'], env)).stdout).toMatch(/attestation\(ecdsa-p256-sha256\)\s+ci/);
  });

  it('publishes a release with its attestation and warns of the policy that would refuse it', async () => {
    expect((await flotilla(['policy', 'apply', path('policy.yaml')], env)).code).toBe(0);
    const published = await flotilla(
      [
        'release',
        'publish',
        path('manifests'),
        '--name',
        'app',
        '--version',
        '1.0.0',
        '--key',
        path('release.key'),
        '--attestation',
        path('app.intoto.json'),
      ],
      env,
    );
    expect(published.code).toBe(0);
    expect(published.stdout).toMatch(/^published app@1\.0\.0 .*\nattestation sha256:[0-9a-f]{64} stored\n$/);
    expect(published.stderr).toMatch(
      /^warning: policy other-source@1 refuses this release for targets in 'tier=prod': artifacts\.provenance: .*built from github\.com\/acme\/app/,
    );
  });

  it('refuses an attestation file that is not one, naming the file', async () => {
    writeFileSync(path('junk.json'), '{"hello": 1}');
    const refused = await flotilla(
      [
        'release',
        'publish',
        path('manifests'),
        '--name',
        'app',
        '--version',
        '1.0.1',
        '--key',
        path('release.key'),
        '--attestation',
        path('junk.json'),
      ],
      env,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/junk\.json is neither a DSSE envelope nor a Sigstore bundle/);
  });

  it('shows the release with its attestation and the verdict of each policy', async () => {
    const shown = await flotilla(['release', 'show', 'app@1.0.0'], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(
      /ATTESTATION\s+sha256:[0-9a-f]{64} \(dsse\)\n {2}SIGNED BY\s+[0-9a-f]{16}\n {2}BUILDER\s+https:\/\/github\.com\/actions\/runner\/github-hosted\n {2}SOURCE\s+github\.com\/acme\/app@c{40}\n/,
    );
    const json = JSON.parse((await flotilla(['release', 'show', 'app@1.0.0', '-o', 'json'], env)).stdout);
    expect(json.attestations).toEqual([
      expect.objectContaining({
        builder: 'https://github.com/actions/runner/github-hosted',
        sources: [{ repository: 'github.com/acme/app', commit: 'c'.repeat(40) }],
      }),
    ]);
    expect(shown.stdout).toMatch(/POLICY\s+other-source@1 \(tier=prod\): refused: artifacts\.provenance/);
  });

  it('drafts, signs offline and publishes a policy set under a policy key added by root draft', async () => {
    expect((await flotilla(['keys', 'create', '--out', path('policy.key')], env)).code).toBe(0);
    expect(
      (await flotilla(['root', 'draft', '--out', path('root.json'), '--add-policy-key', path('policy.key')], env)).code,
    ).toBe(0);
    expect(
      (await flotilla(['root', 'sign', path('root.json'), '--key', join(hub.dataDir, 'keys', 'root.json')], env)).code,
    ).toBe(0);
    expect((await flotilla(['root', 'publish', path('root.json')], env)).code).toBe(0);
    const drafted = await flotilla(['policy-set', 'draft', '--out', path('set.json')], env);
    expect(drafted.stdout).toMatch(/^policy set v1 \(other-source@1\) drafted/);
    const unsigned = await flotilla(['policy-set', 'publish', path('set.json')], env);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toMatch(/carries no signature yet/);
    expect((await flotilla(['policy-set', 'sign', path('set.json'), '--key', path('policy.key')], {})).code).toBe(0);
    const published = await flotilla(['policy-set', 'publish', path('set.json')], env);
    expect(published.stdout).toBe('policy set v1 published\n');
    expect((await flotilla(['policy-set', 'show'], env)).stdout).toMatch(/1\s+\S+\s+other-source@1\s+[0-9a-f]{16}/);
  });
});
