import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestHub, type TestHub } from '../../support.ts';

let hub: TestHub;

const acme = `
apiVersion: flotilla.io/v1
kind: Policy
metadata: { name: acme-payments, description: PCI tenants of Acme }
spec:
  scope: tenant=acme
  approvals: { required: 2 }
  artifacts: { allowedRegistries: [ghcr.io/acme, registry.acme.example], requireDigests: true }
  windows: { allow: ["Mon-Fri 09:00-16:00"], timezone: Europe/Berlin }
`;

function apply(document: unknown, token = hub.adminToken): Promise<{ status: number; body: any }> {
  return call(hub.url, 'POST', '/v1/policies', { token, body: JSON.stringify({ document }) });
}

async function auditEntries(action: string): Promise<any[]> {
  const { body } = await call(hub.url, 'GET', `/v1/audit?action=${action}&limit=100`, { token: hub.adminToken });
  return body.entries;
}

beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(async () => {
  await hub.close();
});

describe('policies on the hub', () => {
  it('stores a valid document as version 1 and audits it', async () => {
    const created = await apply(acme);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'acme-payments', from: null, to: 1, changed: true });
    const shown = await call(hub.url, 'GET', '/v1/policies/acme-payments', { token: hub.adminToken });
    expect(shown.body.document.metadata.version).toBe(1);
    expect(shown.body.document.spec.artifacts.allowedRegistries).toEqual(['ghcr.io/acme', 'registry.acme.example']);
    const [entry] = await auditEntries('policy.apply');
    expect(entry).toMatchObject({ outcome: 'success', details: { policy: 'acme-payments@1' } });
  });

  it('makes no new version when the same policy is applied again, reordered', async () => {
    const again = await apply(
      acme.replace('[ghcr.io/acme, registry.acme.example]', '[registry.acme.example, ghcr.io/acme]'),
    );
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ from: 1, to: 1, changed: false, changes: [] });
  });

  it('stores a change as the next version with its canonical difference', async () => {
    const changed = await apply(acme.replace('required: 2', 'required: 3'));
    expect(changed.body).toMatchObject({ from: 1, to: 2, changed: true });
    expect(changed.body.changes).toEqual([{ path: 'spec.approvals.required', change: 'changed', before: 2, after: 3 }]);
    const between = await call(hub.url, 'GET', '/v1/policies/acme-payments/diff?from=1&to=2', {
      token: hub.adminToken,
    });
    expect(between.body.changes).toEqual(changed.body.changes);
    const listed = await call(hub.url, 'GET', '/v1/policies', { token: hub.adminToken });
    expect(listed.body.items).toEqual([
      expect.objectContaining({
        name: 'acme-payments',
        version: 2,
        scope: 'tenant=acme',
        sections: ['artifacts', 'approvals', 'windows'],
      }),
    ]);
  });

  it('diffs a document against the live version without storing it', async () => {
    const diff = await call(hub.url, 'POST', '/v1/policies/diff', {
      token: hub.adminToken,
      body: JSON.stringify({ document: acme.replace('required: 2', 'required: 4') }),
    });
    expect(diff.body).toMatchObject({ from: 2, to: 3, changed: true });
    const shown = await call(hub.url, 'GET', '/v1/policies/acme-payments', { token: hub.adminToken });
    expect(shown.body.info.version).toBe(2);
  });

  it('refuses a malformed policy whole, naming every bad field, stores nothing and audits the refusal', async () => {
    const bad = acme
      .replace('required: 2', 'required: 0')
      .replace('Mon-Fri 09:00-16:00', 'mon-fry 09:00-16:00')
      .replace('tenant=acme', '(tenant=acme');
    const refused = await apply(bad);
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('POLICY_INVALID');
    const paths = (refused.body.error.details.problems as { path: string }[]).map((p) => p.path).sort();
    expect(paths).toEqual(['spec.approvals.required', 'spec.scope', 'spec.windows.allow[0]']);
    const shown = await call(hub.url, 'GET', '/v1/policies/acme-payments', { token: hub.adminToken });
    expect(shown.body.info.version).toBe(2);
    const [entry] = await auditEntries('policy.apply');
    expect(entry).toMatchObject({ outcome: 'refused', reason: 'POLICY_INVALID' });
    expect(entry.details.problems).toHaveLength(3);
  });

  it('keeps policy changes to admins', async () => {
    const viewer = await call(hub.url, 'POST', '/v1/tokens', {
      token: hub.adminToken,
      body: JSON.stringify({ name: 'reader', role: 'viewer' }),
    });
    const refused = await apply(acme.replace('required: 2', 'required: 5'), viewer.body.token);
    expect(refused.status).toBe(403);
    expect((await call(hub.url, 'GET', '/v1/policies', { token: viewer.body.token })).status).toBe(200);
  });

  it('deletes by a version that takes the policy out of the live set, keeping its history', async () => {
    const deleted = await call(hub.url, 'DELETE', '/v1/policies/acme-payments', { token: hub.adminToken });
    expect(deleted.body).toMatchObject({ from: 2, to: 3, changed: true });
    expect((await call(hub.url, 'GET', '/v1/policies', { token: hub.adminToken })).body.items).toEqual([]);
    expect((await call(hub.url, 'GET', '/v1/policies/acme-payments', { token: hub.adminToken })).status).toBe(404);
    const old = await call(hub.url, 'GET', '/v1/policies/acme-payments?version=1', { token: hub.adminToken });
    expect(old.body.history.map((v: { version: number; deleted: boolean }) => [v.version, v.deleted])).toEqual([
      [3, true],
      [2, false],
      [1, false],
    ]);
    const again = await apply(acme);
    expect(again.body).toMatchObject({ from: null, to: 4 });
  });
});
