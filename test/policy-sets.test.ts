import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateKeyPair,
  nextTrustRoot,
  signPayload,
  type Envelope,
  type KeyPair,
  type Resource,
  type SignedTrustRoot,
  type TrustRootChange,
} from '@flotilla/protocol';
import type { SignedPolicySet } from '@flotilla/protocol/policy';
import { manifestFileName } from '@flotilla/agent';
import { readKeyFile } from '../packages/hub/src/key-files.ts';
import { forgeEnvelope } from './fixtures/forge-envelope.ts';
import { api, startAgent, startHub, type AgentFixture, type HubFixture } from './fixtures/hub-fixture.ts';
import { waitFor } from './fixtures/wait-for.ts';

// Signed policy sets (docs/policy.md): a compromised hub can no longer leave out or alter the
// policy governing a target, nor bypass it with `flotilla assign`; each attempt is refused by
// a real agent, which applies nothing.

let hub: HubFixture;
let prod: AgentFixture;
const policyKeys: KeyPair[] = [generateKeyPair(), generateKeyPair()];
let setV1: SignedPolicySet;

const admin = (method: string, path: string, body?: unknown) =>
  api(hub.url, method, path, { token: hub.adminToken, ...(body === undefined ? {} : { body }) });
const applied = (resource: Resource) => existsSync(join(prod.root, manifestFileName(resource)));

function deployment(name: string, image: string): Resource {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'apps' },
    spec: { template: { spec: { containers: [{ name, image }] } } },
  };
}
const PINNED = `ghcr.io/acme/api@sha256:${'a'.repeat(64)}`;
const pinned1 = deployment('api', PINNED);
const pinned2 = deployment('worker', `ghcr.io/acme/worker@sha256:${'b'.repeat(64)}`);
const tagged = deployment('debug', 'ghcr.io/acme/debug:latest');

/** A trust root change signed with the hub's own root key and published, as `flotilla root` does. */
async function changeRoot(change: TrustRootChange): Promise<void> {
  const current = (await admin('GET', '/v1/trust-root')).body as SignedTrustRoot;
  const next = nextTrustRoot(current.trustRoot, change, new Date().toISOString());
  const rootKey = readKeyFile(join(hub.dataDir, 'keys', 'root.json'));
  const answer = await admin('POST', '/v1/trust-root', {
    trustRoot: next,
    signatures: [signPayload('trust-root', next, rootKey)],
  });
  expect(answer.status).toBe(200);
}

/** The live policies drafted as the next set, signed by `keys` and published. */
async function publishSet(keys: readonly KeyPair[] = policyKeys): Promise<SignedPolicySet> {
  const draft = (await admin('GET', '/v1/policy-sets/draft')).body as SignedPolicySet;
  const signed = { ...draft, signatures: keys.map((key) => signPayload('policy-set', draft.policySet, key)) };
  const answer = await admin('POST', '/v1/policy-sets', signed);
  expect(answer.status).toBe(200);
  return answer.body as SignedPolicySet;
}

async function assign(...resources: Resource[]): Promise<void> {
  const refs: string[] = [];
  for (const resource of resources) {
    const name = resource.metadata.name;
    await hub.publish(name, '1.0.0', [resource]);
    refs.push(`${name}@1.0.0`);
  }
  expect((await hub.assign(prod.targetId, refs)).status).toBe(200);
}

const lastStalled = async (): Promise<{ seq: number; reason: string; details: { message: string } } | undefined> =>
  (await admin('GET', `/v1/audit?action=report.stalled&target=${prod.targetId}&limit=1`)).body.entries[0];

/** The agent's refusal of what `change` sends: a stalled report newer than any before it. */
async function refusal(change: () => Promise<unknown>, expected: RegExp): Promise<string> {
  const before = (await lastStalled())?.seq ?? 0;
  await change();
  return waitFor('prod-1 to refuse the envelope', async () => {
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

/** A compromised hub (its database and key) signs the next generation as `change` makes it. */
async function tamper(change: (envelope: Envelope) => Envelope): Promise<void> {
  await forgeEnvelope(hub, prod.targetId, (current) => change({ ...current!, generation: current!.generation + 1 }));
}

beforeAll(async () => {
  hub = await startHub();
  prod = await startAgent(hub.url, await hub.enrollmentToken(1), { name: 'prod-1' });
  await admin('PATCH', `/v1/targets/${prod.targetId}/properties`, { set: { tier: 'prod' } });
  await changeRoot({
    addKeys: policyKeys.map((key) => ({ publicKey: key.publicKey, roles: ['policy' as const] })),
    thresholds: { policy: 2 },
  });
  setV1 = await publishSet();
  await assign(pinned1);
  await waitFor('prod-1 to apply api under policy set v1', () => applied(pinned1));
  const policy = await admin('POST', '/v1/policies', {
    document: {
      apiVersion: 'flotilla.io/v1',
      kind: 'Policy',
      metadata: { name: 'prod-digests' },
      spec: { scope: 'tier=prod', artifacts: { requireDigests: true } },
    },
  });
  expect(policy.status).toBe(201);
});

afterAll(async () => {
  await prod.agent.stop();
  await hub.dispose();
});

describe('publishing a policy set', () => {
  it('refuses a set signed by fewer policy keys than the threshold', async () => {
    const draft = (await admin('GET', '/v1/policy-sets/draft')).body as SignedPolicySet;
    const answer = await admin('POST', '/v1/policy-sets', {
      ...draft,
      signatures: [signPayload('policy-set', draft.policySet, policyKeys[0]!)],
    });
    expect(answer.status).toBe(403);
    expect(answer.body.error).toMatchObject({ code: 'POLICY_REFUSED', details: { rule: 'policySet.signatures' } });
  });

  it('refuses a set that does not hold the live policies', async () => {
    const draft = (await admin('GET', '/v1/policy-sets/draft')).body as SignedPolicySet;
    const stale = { ...draft.policySet, policies: [] };
    const answer = await admin('POST', '/v1/policy-sets', {
      policySet: stale,
      signatures: policyKeys.map((key) => signPayload('policy-set', stale, key)),
    });
    expect(answer.status).toBe(409);
    expect(answer.body.error.message).toMatch(/does not hold the live policies/);
  });

  it('refuses a set too large to travel in every envelope', async () => {
    const draft = (await admin('GET', '/v1/policy-sets/draft')).body as SignedPolicySet;
    const registries = Array.from({ length: 256 }, (_, i) => `registry-${i}.example.com/team-${i}`);
    const big = {
      ...draft.policySet,
      policies: Array.from({ length: 512 }, (_, i) => ({
        ...draft.policySet.policies[0]!,
        metadata: { name: `big-${i}`, version: 1 },
        spec: { scope: 'tier=prod', artifacts: { allowedRegistries: registries } },
      })),
    };
    const answer = await admin('POST', '/v1/policy-sets', { policySet: big, signatures: [] });
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toMatch(/every envelope carries it, so it may be at most 4194304/);
  });

  it('publishes the live policies as the next version', async () => {
    const published = await publishSet();
    expect(published.policySet.version).toBe(2);
    expect(published.policySet.policies.map((p) => p.metadata.name)).toEqual(['prod-digests']);
  });
});

describe('an agent applies the signed set whatever the hub writes', () => {
  it('applies a release the set allows, and remembers the set it accepted', async () => {
    await assign(pinned1, pinned2);
    await waitFor('prod-1 to apply worker under policy set v2', () => applied(pinned2));
  });

  it('refuses a release a hub slips in with no policy section, by the rule of the set', async () => {
    await hub.publish(tagged.metadata.name, '1.0.0', [tagged]);
    const refused = await hub.assign(prod.targetId, [`${tagged.metadata.name}@1.0.0`]);
    expect(refused.status).toBe(403);
    const message = await refusal(
      () =>
        tamper((envelope) => {
          const { policy: _stripped, ...bare } = withTaggedRelease(envelope);
          return bare;
        }),
      /policy prod-digests@1 refused .*artifacts\.requireDigests/,
    );
    expect(message).toMatch(/policy prod-digests@1 refused .*artifacts\.requireDigests/);
    expect(applied(tagged)).toBe(false);
  });

  it('refuses a set whose rule the hub altered', async () => {
    const message = await refusal(
      () =>
        tamper((envelope) => {
          const set = structuredClone(envelope.policySet as unknown as SignedPolicySet);
          delete (set.policySet.policies[0]!.spec as { artifacts?: unknown }).artifacts;
          set.policySet.policies[0]!.spec.placement = { deniedClasses: ['none'] };
          return withTaggedRelease({ ...envelope, policySet: set });
        }),
      /policySet\.signatures|carries 0 valid signatures/,
    );
    expect(message).toMatch(/policySet\.signatures|carries 0 valid signatures/);
    expect(applied(tagged)).toBe(false);
  });

  it('refuses an older set replayed, though it was validly signed', async () => {
    const message = await refusal(
      () => tamper((envelope) => withTaggedRelease({ ...envelope, policySet: setV1 })),
      /policy set v1 is older than v2/,
    );
    expect(message).toMatch(/policy set v1 is older than v2/);
    expect(applied(tagged)).toBe(false);
  });

  it('refuses a set signed by keys that are not policy keys', async () => {
    const message = await refusal(
      () =>
        tamper((envelope) => {
          const set = { ...(envelope.policySet as unknown as SignedPolicySet).policySet, version: 3, policies: [] };
          const signatures = [hub.releaseKey, generateKeyPair()].map((key) => signPayload('policy-set', set, key));
          return withTaggedRelease({ ...envelope, policySet: { policySet: set, signatures } });
        }),
      /policy set v3 carries 0 valid signatures of the 2 policy keys/,
    );
    expect(message).toMatch(/policy set v3 carries 0 valid signatures of the 2 policy keys/);
    expect(applied(tagged)).toBe(false);
  });

  it('refuses a set signed by fewer policy keys than the trust root requires', async () => {
    const message = await refusal(
      () =>
        tamper((envelope) => {
          const set = { ...(envelope.policySet as unknown as SignedPolicySet).policySet, version: 3, policies: [] };
          return withTaggedRelease({
            ...envelope,
            policySet: { policySet: set, signatures: [signPayload('policy-set', set, policyKeys[0]!)] },
          });
        }),
      /policy set v3 carries 1 valid signatures .* 2 are required/,
    );
    expect(message).toMatch(/policy set v3 carries 1 valid signatures .* 2 are required/);
    expect(applied(tagged)).toBe(false);
  });

  it('refuses a release whose policy section and set were both stripped, once the trust root requires sets', async () => {
    await changeRoot({ requirePolicySets: true });
    const root = (await admin('GET', '/v1/trust-root')).body as SignedTrustRoot;
    const message = await refusal(
      () =>
        tamper((envelope) => {
          const { policySet: _set, target: _target, policy: _policy, ...rest } = envelope;
          return withTaggedRelease({ ...rest, trustRootVersion: root.trustRoot.version });
        }),
      /requires a signed policy set/,
    );
    expect(message).toMatch(/requires a signed policy set/);
    expect(applied(tagged)).toBe(false);
  });
});

/** The envelope with the tagged release (published by the refused assign) added, if not there. */
function withTaggedRelease(envelope: Envelope): Envelope {
  if (envelope.bundles.some((b) => b.name === 'debug')) return envelope;
  const row = hub.openDb();
  const found = row.prepare("SELECT digest, octet_length(signed) AS size FROM bundles WHERE name = 'debug'").get() as {
    digest: string;
    size: number;
  };
  row.close();
  return {
    ...envelope,
    bundles: [...envelope.bundles, { name: 'debug', version: '1.0.0', digest: found.digest, size: found.size }],
  };
}
