import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flotilla } from './fixtures/cli.ts';
import { configMap, startHub, type HubFixture } from './fixtures/hub-fixture.ts';
import { tempDir } from './fixtures/temp-dir.ts';

const policy = (required: number) => `apiVersion: flotilla.io/v1
kind: Policy
metadata: { name: acme-dual }
spec:
  scope: tenant=acme
  approvals: { required: ${required} }
`;

describe('flotilla policy, token and rollout plan', () => {
  let hub: HubFixture;
  let env: Record<string, string>;
  const dir = tempDir('flotilla-policy-cli-');
  const file = (name: string, text: string) => {
    const path = join(dir.path, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(async () => {
    hub = await startHub();
    env = { FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: hub.adminToken };
    await hub.publish('app', '1.0.0', [configMap('app', { v: '1' })]);
  });
  afterAll(async () => {
    await hub.dispose();
    dir.remove();
  });

  it('applies, lists and diffs a policy', async () => {
    const applied = await flotilla(['policy', 'apply', file('v1.yaml', policy(2))], env);
    expect(applied.stdout).toMatch(/^policy acme-dual applied \(none -> v1\)\n/);
    expect(applied.code).toBe(0);
    const diff = await flotilla(['policy', 'diff', file('v2.yaml', policy(3))], env);
    expect(diff.stdout).toBe('~ spec.approvals.required: 2 -> 3\n');
    expect((await flotilla(['policy', 'apply', file('v2.yaml', policy(3))], env)).code).toBe(0);
    const listed = await flotilla(['policy', 'ls'], env);
    expect(listed.stdout).toMatch(/acme-dual\s+2\s+tenant=acme\s+approvals/);
    const between = await flotilla(['policy', 'diff', 'acme-dual', '--from', '1'], env);
    expect(between.stdout).toBe('~ spec.approvals.required: 2 -> 3\n');
  });

  it('refuses a malformed policy with the path of the bad field and exit 1', async () => {
    const refused = await flotilla(['policy', 'apply', file('bad.yaml', policy(0))], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/POLICY_INVALID|spec\.approvals\.required/);
  });

  it('creates a scoped token that sees only its targets, lists it and revokes it', async () => {
    const created = await flotilla(
      ['token', 'create', '--name', 'eu-viewer', '--role', 'viewer', '--scope', 'region=eu-*', '-o', 'json'],
      env,
    );
    expect(created.code).toBe(0);
    const { token } = JSON.parse(created.stdout) as { token: string };
    const scoped = { FLOTILLA_HUB: hub.url, FLOTILLA_TOKEN: token };
    const listed = await flotilla(['targets', 'ls'], scoped);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect((await flotilla(['audit', 'ls'], scoped)).code).toBe(0);
    expect((await flotilla(['policy', 'ls'], scoped)).code).toBe(1);
    expect((await flotilla(['token', 'ls'], env)).stdout).toMatch(/eu-viewer\s+viewer\s+region=eu-\*\s+active/);
    expect((await flotilla(['token', 'revoke', 'eu-viewer'], env)).code).toBe(0);
    const refused = await flotilla(['targets', 'ls'], scoped);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/revoked/);
  });

  it('explains a rollout before it runs', async () => {
    const plan = await flotilla(['rollout', 'plan', '--release', 'app@1.0.0', '--selector', ''], env);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/0 selected: 0 included, 0 blocked; policies acme-dual@2/);
  });
});
