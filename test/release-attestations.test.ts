import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_VERSION, signBundle, type Resource, type SignedBundle } from '@flotilla/protocol';
import { manifestFileName } from '@flotilla/agent';
import {
  dsseEnvelope,
  ecdsaSigner,
  hexOf,
  statement,
  type TestSigner,
} from '../packages/protocol/test/policy/policy-fixtures.ts';
import { forgeEnvelope } from './fixtures/forge-envelope.ts';
import { api, configMap, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { waitFor } from './fixtures/wait-for.ts';

// Provenance attestations end to end (docs/policy.md, "Attestations with releases"): stored
// with releases at publish, checked at plan, carried in envelopes and verified by the agent
// against its own trust root's attestation keys.

let hub: HubFixture;
let prod: AgentFixture;
const builder: TestSigner = ecdsaSigner('ci');
const stranger: TestSigner = ecdsaSigner('stranger');
const app: Resource = configMap('app', { version: '1' }, 'apps');
const extraResource: Resource = configMap('app-extra', { version: '2' }, 'apps');

const admin = (method: string, path: string, body?: unknown) =>
  api(hub.url, method, path, { token: hub.adminToken, ...(body === undefined ? {} : { body }) });
const applied = (resource: Resource) => existsSync(join(prod.root, manifestFileName(resource)));

function release(name: string, resources: Resource[]): SignedBundle {
  return signBundle({ apiVersion: API_VERSION, kind: 'Bundle', name, version: '1.0.0', resources }, [hub.releaseKey]);
}

function attestation(subject: string, signer = builder, repo = 'github.com/acme/app') {
  return { format: 'dsse', envelope: dsseEnvelope(statement(hexOf(subject), { repo }), [signer]) };
}

const publish = (signed: SignedBundle, attestations?: unknown[]) =>
  admin('POST', '/v1/bundles', { ...signed, ...(attestations === undefined ? {} : { attestations }) });

let withProvenance: SignedBundle;
let withoutProvenance: SignedBundle;
let extra: SignedBundle;

beforeAll(async () => {
  hub = await startHub();
  const key = await admin('POST', '/v1/trust-root/attestation-keys', { publicKey: builder.key.publicKey, name: 'ci' });
  expect(key.status).toBe(200);
  const policy = await admin('POST', '/v1/policies', {
    document: {
      apiVersion: 'flotilla.io/v1',
      kind: 'Policy',
      metadata: { name: 'prod-provenance' },
      spec: { scope: 'tier=prod', artifacts: { provenance: { sourceRepositories: ['github.com/acme/*'] } } },
    },
  });
  expect(policy.status).toBe(201);
  withProvenance = release('app', [app]);
  withoutProvenance = release('app-unattested', [configMap('app-unattested', { version: '1' }, 'apps')]);
  extra = release('app-extra', [extraResource]);
  prod = await startAgent(hub.url, await hub.enrollmentToken(1), { name: 'prod-1' });
  await admin('PATCH', `/v1/targets/${prod.targetId}/properties`, { set: { tier: 'prod' } });
});

afterAll(async () => {
  await prod.agent.stop();
  await hub.dispose();
});

describe('publishing a release with attestations', () => {
  it('refuses an attestation signed by a key the trust root does not list, storing nothing', async () => {
    const answer = await publish(withProvenance, [attestation(withProvenance.digest, stranger)]);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'ATTESTATION_INVALID', details: { reason: 'signature' } });
    const list = await admin('GET', '/v1/bundles');
    expect(list.body.items.map((i: { name: string }) => i.name)).not.toContain('app');
    const audit = await admin('GET', '/v1/audit?action=bundle.publish&limit=1');
    expect(audit.body.entries[0]).toMatchObject({ outcome: 'refused', reason: 'ATTESTATION_INVALID' });
  });

  it('refuses an attestation whose subject is another release', async () => {
    const answer = await publish(withProvenance, [attestation(extra.digest)]);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'ATTESTATION_INVALID', details: { reason: 'subject' } });
  });

  it('refuses an attestation whose payload was altered after signing', async () => {
    const forged = attestation(withProvenance.digest);
    const payload = JSON.parse(Buffer.from(forged.envelope.payload, 'base64').toString());
    payload.predicate.runDetails.builder.id = 'https://evil.example/builder';
    forged.envelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    const answer = await publish(withProvenance, [forged]);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'ATTESTATION_INVALID', details: { reason: 'signature' } });
  });

  it('warns, per policy, when a policy in force would refuse the release, and still publishes it', async () => {
    const answer = await publish(withoutProvenance);
    expect(answer.status).toBe(201);
    expect(answer.body.policies).toEqual([
      {
        policy: 'prod-provenance@1',
        scope: 'tier=prod',
        allowed: false,
        reasons: [{ rule: 'artifacts.provenance', message: 'the release has no provenance attestation' }],
      },
    ]);
    const audit = await admin('GET', '/v1/audit?action=bundle.policy-verdict&limit=1');
    expect(audit.body.entries[0]).toMatchObject({ outcome: 'refused', reason: 'artifacts.provenance' });
  });

  it('stores a verified attestation content-addressed with the release and shows it', async () => {
    const provenance = attestation(withProvenance.digest);
    const answer = await publish(withProvenance, [provenance]);
    expect(answer.status).toBe(201);
    expect(answer.body.attestations).toHaveLength(1);
    expect(answer.body.policies).toEqual([expect.objectContaining({ policy: 'prod-provenance@1', allowed: true })]);
    const again = await publish(withProvenance, [provenance]);
    expect(again.status).toBe(200);
    expect(again.body.attestations).toEqual(answer.body.attestations);
    const details = await admin('GET', `/v1/bundles/${withProvenance.digest}/details`);
    expect(details.body.attestations).toEqual([
      expect.objectContaining({
        digest: answer.body.attestations[0],
        format: 'dsse',
        signers: [expect.stringMatching(/^[0-9a-f]{16}$/)],
        builder: 'https://github.com/actions/runner/github-hosted',
        sources: [{ repository: 'github.com/acme/app', commit: 'c'.repeat(40) }],
      }),
    ]);
  });
});

describe('planning under a provenance rule', () => {
  it('blocks a release without provenance for targets in scope, naming the rule', async () => {
    const plan = await admin('POST', '/v1/rollouts/plan', { release: 'app-unattested@1.0.0', selector: '' });
    expect(plan.body.targets[0]).toMatchObject({
      included: false,
      reasons: [{ kind: 'artifact', rule: 'artifacts.provenance', policy: 'prod-provenance@1' }],
    });
  });

  it('includes the release once its attestation is stored', async () => {
    const plan = await admin('POST', '/v1/rollouts/plan', { release: 'app@1.0.0', selector: '' });
    expect(plan.body.targets[0]).toMatchObject({ included: true, policies: ['prod-provenance@1'] });
  });
});

describe('the agent verifies provenance itself', () => {
  beforeAll(async () => {
    expect((await publish(extra)).status).toBe(201);
    const created = await admin('POST', '/v1/rollouts', { release: 'app@1.0.0', selector: '' });
    expect(created.status).toBe(201);
  });

  it('applies a release whose carried attestation verifies against its own trust root', async () => {
    await waitFor('prod-1 to apply app', () => applied(app));
  });

  /** A compromised hub signs the next envelope bringing `extra` under the section `attestations` makes. */
  async function tamper(attestations: () => unknown[]): Promise<number> {
    const size = Buffer.byteLength(JSON.stringify(extra));
    const envelope = await forgeEnvelope(hub, prod.targetId, (current) => ({
      ...current!,
      generation: current!.generation + 1,
      bundles: [
        ...current!.bundles.filter((bundle) => bundle.digest !== extra.digest),
        { name: 'app-extra', version: '1.0.0', digest: extra.digest, size },
      ],
      policy: current!.policy!.map((section) => ({
        ...section,
        releaseDigest: extra.digest,
        attestations: attestations(),
      })),
    }));
    return envelope.generation;
  }

  const lastStalled = async (): Promise<{ seq: number; reason: string; details: { message: string } } | undefined> =>
    (await admin('GET', `/v1/audit?action=report.stalled&target=${prod.targetId}&limit=1`)).body.entries[0];

  /** The agent's refusal of the next generation `change` makes: a stalled report newer than any before it. */
  async function refusal(change: () => Promise<number>, expected: RegExp): Promise<string> {
    const before = (await lastStalled())?.seq ?? 0;
    const generation = await change();
    return waitFor(`prod-1 to refuse generation ${generation}`, async () => {
      const entry = await lastStalled();
      // An earlier refusal may be reported again meanwhile: wait for this one.
      return (
        entry !== undefined &&
        entry.seq > before &&
        entry.reason === 'POLICY_REFUSED' &&
        expected.test(entry.details.message) &&
        entry.details.message
      );
    });
  }

  it('refuses a release whose attestation the hub left out, applying nothing', async () => {
    const message = await refusal(
      () => tamper(() => []),
      /policy prod-provenance@1 refused .*artifacts\.provenance: the release has no provenance/,
    );
    expect(message).toMatch(/policy prod-provenance@1 refused .*artifacts\.provenance: the release has no provenance/);
    expect(applied(extraResource)).toBe(false);
  });

  it('refuses an attestation signed by a key its trust root does not list', async () => {
    const message = await refusal(
      () => tamper(() => [attestation(extra.digest, stranger)]),
      /artifacts\.provenance: no provenance attestation of the release verifies: .*attestation keys/,
    );
    expect(message).toMatch(
      /artifacts\.provenance: no provenance attestation of the release verifies: .*attestation keys/,
    );
    expect(applied(extraResource)).toBe(false);
  });

  it("refuses another release's attestation, whose subject does not match", async () => {
    const message = await refusal(
      () => tamper(() => [attestation(withProvenance.digest)]),
      /artifacts\.provenance: .*subjects do not include the release/,
    );
    expect(message).toMatch(/artifacts\.provenance: .*subjects do not include the release/);
    expect(applied(extraResource)).toBe(false);
  });

  it('refuses an attestation whose payload was altered after signing', async () => {
    const forged = attestation(extra.digest, builder, 'github.com/evil/app');
    const honest = attestation(extra.digest);
    forged.envelope.signatures = honest.envelope.signatures;
    const message = await refusal(
      () => tamper(() => [forged]),
      /artifacts\.provenance: no provenance attestation of the release verifies/,
    );
    expect(message).toMatch(/artifacts\.provenance: no provenance attestation of the release verifies/);
    expect(applied(extraResource)).toBe(false);
  });

  it('refuses an attestation from a repository the carried rule does not allow', async () => {
    const message = await refusal(
      () => tamper(() => [attestation(extra.digest, builder, 'github.com/evil/app')]),
      /artifacts\.provenance: the release's provenance does not match: built from github\.com\/evil\/app/,
    );
    expect(message).toMatch(
      /artifacts\.provenance: the release's provenance does not match: built from github\.com\/evil\/app/,
    );
    expect(applied(extraResource)).toBe(false);
  });
});
