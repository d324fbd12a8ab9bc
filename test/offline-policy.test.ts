/**
 * Policy across the air gap: a transfer file carries the same signed envelope as the online
 * path, policy section, attestations and policy set included, and the site checks them
 * offline against its own trust root before it applies anything.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, signBundle, type Envelope, type Resource, type SignedEnvelope } from '@flotilla/protocol';
import { writeSignedTransfer } from '@flotilla/protocol/offline';
import { manifestFileName } from '@flotilla/agent';
import { OfflineSite } from '../packages/agent/src/offline/offline-site.ts';
import { FileAgentStore } from '../packages/agent/src/agent-state.ts';
import { DriftEngine } from '../packages/agent/src/drift/drift-engine.ts';
import { ManifestsDirDriver } from '../packages/agent/src/drivers/manifests-dir.ts';
import { dsseEnvelope, ecdsaSigner, hexOf, statement } from '../packages/protocol/test/policy/policy-fixtures.ts';
import {
  api,
  configMap,
  silent,
  startAgent,
  startHub,
  type AgentFixture,
  type HubFixture,
} from './fixtures/hub-fixture.ts';
import { waitFor } from './fixtures/wait-for.ts';

const OPERATOR = { kind: 'user', tokenId: 'tok_test', name: 'operator', role: 'admin' } as const;

let hub: HubFixture;
let edge: AgentFixture;
let site: OfflineSite;
const builder = ecdsaSigner('ci');
const app: Resource = configMap('app', { version: '1' }, 'apps');
const extra: Resource = configMap('app-extra', { version: '1' }, 'apps');

const admin = (method: string, path: string, body?: unknown) =>
  api(hub.url, method, path, { token: hub.adminToken, ...(body === undefined ? {} : { body }) });
const applied = (resource: Resource) => existsSync(join(edge.root, manifestFileName(resource)));

async function exportTo(name: string): Promise<string> {
  const plan = hub.hub.services.offline.exportPlan({ targets: [edge.targetId] }, OPERATOR);
  const chunks: Uint8Array[] = [];
  for await (const chunk of writeSignedTransfer(
    {
      hubId: plan.signed.manifest.hubId,
      createdAt: plan.signed.manifest.createdAt,
      trustRootSince: 0,
      trustRoots: plan.trustRoots,
      envelopes: plan.envelopes,
      releases: plan.releases,
    },
    plan.signed,
  ))
    chunks.push(Buffer.from(chunk));
  const path = join(edge.root, '..', name);
  writeFileSync(path, Buffer.concat(chunks));
  return path;
}

beforeAll(async () => {
  hub = await startHub();
  expect(
    (await admin('POST', '/v1/trust-root/attestation-keys', { publicKey: builder.key.publicKey, name: 'ci' })).status,
  ).toBe(200);
  expect(
    (
      await admin('POST', '/v1/policies', {
        document: {
          apiVersion: 'flotilla.io/v1',
          kind: 'Policy',
          metadata: { name: 'provenance' },
          spec: { scope: 'site=edge', artifacts: { provenance: { sourceRepositories: ['github.com/acme/*'] } } },
        },
      })
    ).status,
  ).toBe(201);
  edge = await startAgent(hub.url, await hub.enrollmentToken(1), { name: 'edge-1' });
  await admin('PATCH', `/v1/targets/${edge.targetId}/properties`, { set: { site: 'edge' } });
  // The site goes dark: from now on only files reach it.
  await edge.agent.stop();
  const store = new FileAgentStore(edge.stateDir);
  const driver = new ManifestsDirDriver(edge.root);
  site = new OfflineSite({
    store,
    enrollment: { targetId: edge.targetId, name: 'edge-1', hubId: '', audience: '' },
    driver,
    drift: new DriftEngine({ driver, log: silent, clock: Date.now, dir: edge.stateDir }),
    log: silent,
    clock: Date.now,
  });
  for (const [resource, attest] of [
    [app, true],
    [extra, false],
  ] as const) {
    const signed = signBundle(
      {
        apiVersion: API_VERSION,
        kind: 'Bundle',
        name: resource.metadata.name,
        version: '1.0.0',
        resources: [resource],
      },
      [hub.releaseKey],
    );
    const attestations = attest
      ? [{ format: 'dsse', envelope: dsseEnvelope(statement(hexOf(signed.digest)), [builder]) }]
      : [];
    expect((await admin('POST', '/v1/bundles', { ...signed, attestations })).status).toBe(201);
  }
});

afterAll(async () => {
  await hub.dispose();
});

describe('a transfer file under an artifact provenance rule', () => {
  it('applies a release whose carried attestation the site verifies offline', async () => {
    expect((await admin('POST', '/v1/rollouts', { release: 'app@1.0.0', selector: '' })).status).toBe(201);
    await waitFor('the rollout to stage app', async () => {
      const target = await admin('GET', `/v1/targets/${edge.targetId}`);
      return target.body.desired.generation >= 1;
    });
    const result = await site.importTransfer(await exportTo('gen-1.flotilla'));
    expect(result.outcome).toBe('applied');
    expect(applied(app)).toBe(true);
  });

  it('refuses a file whose envelope a compromised hub wrote without the attestation, applying nothing', async () => {
    await hub.stop();
    const db = hub.openDb();
    const row = db.prepare('SELECT envelope FROM targets WHERE id = ?').get(edge.targetId) as { envelope: string };
    const current = (JSON.parse(row.envelope) as SignedEnvelope).envelope;
    const digest = (db.prepare("SELECT digest FROM bundles WHERE name = 'app-extra'").get() as { digest: string })
      .digest;
    const size = (
      db.prepare('SELECT octet_length(signed) AS size FROM bundles WHERE digest = ?').get(digest) as {
        size: number;
      }
    ).size;
    const envelope: Envelope = {
      ...current,
      generation: current.generation + 1,
      bundles: [...current.bundles, { name: 'app-extra', version: '1.0.0', digest, size }],
      policy: current.policy!.map((section) => ({ ...section, releaseDigest: digest, attestations: [] })),
    };
    // The export re-signs the stored envelope with the hub's key, as a compromised hub would.
    db.prepare('UPDATE targets SET envelope = ?, desired_generation = ?, desired_bundles = ? WHERE id = ?').run(
      JSON.stringify({ envelope, signature: (JSON.parse(row.envelope) as SignedEnvelope).signature }),
      envelope.generation,
      JSON.stringify(envelope.bundles),
      edge.targetId,
    );
    db.close();
    await hub.restart();
    await expect(site.importTransfer(await exportTo('gen-2.flotilla'))).rejects.toMatchObject({
      code: 'POLICY_REFUSED',
      message: expect.stringMatching(
        /policy provenance@1 refused .*artifacts\.provenance: the release has no provenance/,
      ),
    });
    expect(applied(extra)).toBe(false);
  });
});
