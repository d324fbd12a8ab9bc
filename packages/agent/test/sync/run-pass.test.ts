import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  FlotillaError,
  generateKeyPair,
  keyIdOf,
  resourceKey,
  signPayload,
  type Envelope,
  type KeyPair,
  type ReleaseRef,
  type Report,
  type Resource,
  type SignedEnvelope,
  type TrustRoot,
} from '@flotilla/protocol';
import { defaultDriftPolicy } from '@flotilla/protocol/drift';
import { EMPTY_SYNC_STATE, FileAgentStore } from '../../src/agent-state.ts';
import { DriftEngine } from '../../src/drift/drift-engine.ts';
import { ReportJournal } from '../../src/journal/report-journal.ts';
import { runPass, type PassDependencies } from '../../src/sync/run-pass.ts';
import { MemoryDriver } from '../fixtures/memory-driver.ts';

const T0 = Date.parse('2025-03-01T12:00:00Z');
const TARGET = `tgt_${'0'.repeat(20)}`;
const HUB_KEY: KeyPair = generateKeyPair();
const TRUST_ROOT: TrustRoot = {
  apiVersion: API_VERSION,
  kind: 'TrustRoot',
  hubId: 'hub_test',
  version: 1,
  keys: [{ id: keyIdOf(HUB_KEY.publicKey), publicKey: HUB_KEY.publicKey, roles: ['hub'] }],
  thresholds: { root: 1, release: 1 },
  issuedAt: new Date(T0).toISOString(),
};

const settings = (mode: string): Resource => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'settings', namespace: 'shop' },
  data: { mode },
});
const V1: ReleaseRef = { name: 'shop', version: '1.0.0', digest: `sha256:${'1'.repeat(64)}` };
const V2: ReleaseRef = { name: 'shop', version: '2.0.0', digest: `sha256:${'2'.repeat(64)}` };
const RELEASES = new Map([
  [V1.digest, [settings('fast')]],
  [V2.digest, [settings('safe')]],
]);

function signed(generation: number, bundles: ReleaseRef[], extra: Partial<Envelope> = {}): SignedEnvelope {
  const envelope: Envelope = {
    apiVersion: API_VERSION,
    kind: 'Envelope',
    targetId: TARGET,
    generation,
    bundles: bundles.map((ref) => ({ ...ref, size: 100 })),
    holds: [],
    trustRootVersion: 1,
    issuedAt: new Date(T0).toISOString(),
    expiresAt: new Date(T0 + 86_400_000).toISOString(),
    ...extra,
  };
  return { envelope, signature: signPayload('envelope', envelope, HUB_KEY) };
}

/**
 * Stands in for the verifier, whose checks the end-to-end tests exercise against a real hub:
 * a generation below the applied one is refused as a rollback, bundles come from RELEASES.
 */
const verifier: PassDependencies['verifier'] = {
  async verifyHeader(raw, { appliedGeneration: lastGeneration }) {
    const envelope = raw as SignedEnvelope;
    if (envelope.envelope.generation < lastGeneration)
      throw new FlotillaError(
        'ENVELOPE_ROLLBACK',
        `generation ${envelope.envelope.generation} is older than ${lastGeneration}`,
      );
    return { signed: envelope, envelope: envelope.envelope, trustRoot: TRUST_ROOT };
  },
  async resourcesOf(refs) {
    return refs.flatMap((ref) => structuredClone(RELEASES.get(ref.digest) ?? []));
  },
  // These envelopes carry no policy sections (test/policy.test.ts checks them end to end).
  async checkPolicy() {
    return undefined;
  },
  async driftPolicyOf(envelope) {
    return envelope.driftPolicy ?? defaultDriftPolicy;
  },
};

let dir: string;
let store: FileAgentStore;
let driver: MemoryDriver;
let deps: PassDependencies;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-run-pass-'));
  store = new FileAgentStore(dir);
  driver = new MemoryDriver();
  const log = pino({ level: 'silent' });
  deps = {
    store,
    verifier,
    driver,
    drift: new DriftEngine({ driver, log, clock: () => T0, dir }),
    journal: new ReportJournal(dir, generateKeyPair(), TARGET, store),
    facts: async () => ({ driver: 'memory' }),
    clock: () => T0,
    log,
  };
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function reports(): Report[] {
  const journal = join(dir, 'journal');
  return readdirSync(journal)
    .filter((f) => f.endsWith('.report.json'))
    .sort()
    .map((f) => (JSON.parse(readFileSync(join(journal, f), 'utf8')) as { report: Report }).report);
}

const pass = (raw: SignedEnvelope, phase: 'starting' | 'applied' | 'failed' = 'applied') =>
  runPass(deps, { raw, token: async () => 'token', phase });

describe('a sync pass', () => {
  it('applies new releases, then saves them and writes one applied report with its drift', async () => {
    const outcome = await pass(signed(1, [V1]), 'starting');
    expect(outcome).toMatchObject({ kind: 'applied', generation: 1 });
    expect(driver.applies.map((a) => a.keys)).toEqual([[resourceKey(settings('fast'))]]);
    expect(await store.sync()).toMatchObject({ appliedGeneration: 1, appliedReleases: [V1] });
    expect(reports()).toMatchObject([
      {
        generation: 1,
        phase: 'applied',
        health: 'healthy',
        bundles: [V1],
        resources: [{ status: 'applied', health: 'healthy' }],
        drift: { items: [] },
      },
    ]);
  });

  it('keeps a re-signed envelope of the state in place without applying or reporting', async () => {
    await pass(signed(1, [V1]), 'starting');
    const again = signed(1, [V1], { expiresAt: new Date(T0 + 2 * 86_400_000).toISOString() });
    expect(await pass(again)).toEqual({ kind: 're-signed' });
    expect(driver.applies).toHaveLength(1);
    expect(reports()).toHaveLength(1);
    expect((await store.sync()).appliedEnvelope).toEqual(again);
  });

  it('applies nothing for a new generation of the same releases, and acts on drift under its rules', async () => {
    await pass(signed(1, [V1]), 'starting');
    const key = resourceKey(settings('fast'));
    driver.edit(key, (o) => (o.data.mode = 'slow'));
    const outcome = await pass(signed(2, [V1], { revert: [{ resourceKey: key, path: 'data.mode' }] }));
    expect(outcome).toMatchObject({ kind: 'applied', generation: 2 });
    expect(driver.applies).toHaveLength(1);
    expect(driver.repairs.map((r) => r.resources.map(resourceKey))).toEqual([[key]]);
    expect(driver.live.get(key)).toMatchObject({ data: { mode: 'fast' } });
    expect((await store.sync()).appliedGeneration).toBe(2);
    expect(reports()[1]).toMatchObject({
      generation: 2,
      phase: 'applied',
      drift: { items: [{ path: 'data.mode', action: 'revert' }] },
    });
  });

  it('reports a refused envelope as stalled and keeps the last good state', async () => {
    await pass(signed(3, [V1]), 'starting');
    const outcome = await pass(signed(2, [V2]));
    expect(outcome).toMatchObject({ kind: 'stalled', error: { code: 'ENVELOPE_ROLLBACK' } });
    expect(driver.applies).toHaveLength(1);
    expect(await store.sync()).toMatchObject({ appliedGeneration: 3, appliedReleases: [V1] });
    expect(reports()[1]).toMatchObject({
      generation: 3,
      phase: 'stalled',
      health: 'unknown',
      bundles: [V1],
      resources: [],
      error: { code: 'ENVELOPE_ROLLBACK' },
    });
  });

  it('applies nothing and reports nothing when the envelope names a policy the hub does not have, so the pass is retried', async () => {
    const unknown = `sha256:${'9'.repeat(64)}`;
    deps = {
      ...deps,
      verifier: {
        ...verifier,
        async driftPolicyOf(envelope) {
          if (envelope.driftPolicyDigest === unknown)
            throw new FlotillaError('DRIFT_POLICY_UNKNOWN', `no drift policy with digest ${unknown}`);
          return defaultDriftPolicy;
        },
      },
    };
    await expect(pass(signed(1, [V1], { driftPolicyDigest: unknown }), 'starting')).rejects.toMatchObject({
      code: 'DRIFT_POLICY_UNKNOWN',
    });
    expect(driver.applies).toEqual([]);
    const sync = await store.sync();
    expect(sync.appliedGeneration).toBe(0);
    expect(sync.applying).toBeUndefined();
    expect(readdirSync(join(dir, 'journal')).filter((f) => f.endsWith('.report.json'))).toEqual([]);
  });

  it('refuses an envelope whose policy the hub served wrong as stalled, applying nothing', async () => {
    await pass(signed(1, [V1]), 'starting');
    deps = {
      ...deps,
      verifier: {
        ...verifier,
        async driftPolicyOf() {
          throw new FlotillaError('DRIFT_POLICY_DIGEST_MISMATCH', 'the bytes served do not hash to the digest');
        },
      },
    };
    const outcome = await pass(signed(2, [V2], { driftPolicyDigest: `sha256:${'9'.repeat(64)}` }));
    expect(outcome).toMatchObject({ kind: 'stalled', error: { code: 'DRIFT_POLICY_DIGEST_MISMATCH' } });
    expect(driver.applies).toHaveLength(1);
    expect(await store.sync()).toMatchObject({ appliedGeneration: 1, appliedReleases: [V1] });
    expect(reports()[1]).toMatchObject({ phase: 'stalled', error: { code: 'DRIFT_POLICY_DIGEST_MISMATCH' } });
  });

  it('reports resources that failed to apply and saves only the intent record, so the envelope is tried again', async () => {
    driver.refusing.set(resourceKey(settings('fast')), 'disk full');
    expect(await pass(signed(1, [V1]), 'starting')).toEqual({ kind: 'failed', generation: 1 });
    // The time floor moves too: the envelope's signature verified, its issuedAt is vouched for.
    expect(await store.sync()).toEqual({
      ...EMPTY_SYNC_STATE,
      applying: intent(1, [V1]),
      timeFloor: new Date(T0).toISOString(),
    });
    expect(reports()).toMatchObject([
      {
        generation: 1,
        phase: 'failed',
        health: 'degraded',
        error: { code: 'DRIVER_FAILED', message: '1 resources failed to apply: disk full' },
      },
    ]);
    expect(reports()[0]).not.toHaveProperty('drift');
  });

  it('applies the releases in place again after a failed apply of others', async () => {
    await pass(signed(1, [V1]), 'starting');
    driver.refusing.set(resourceKey(settings('safe')), 'disk full');
    await pass(signed(2, [V2]));
    driver.refusing.clear();
    expect(await pass(signed(3, [V1]), 'failed')).toMatchObject({ kind: 'applied', generation: 3 });
    expect(driver.applies).toHaveLength(3);
  });

  it('saves only the intent record and reports nothing when the substrate is lost after applying, so the whole pass is retried', async () => {
    driver.unreachable = true;
    await expect(pass(signed(1, [V1]), 'starting')).rejects.toMatchObject({ code: 'KUBE_UNREACHABLE' });
    // The time floor moves too: the envelope's signature verified, its issuedAt is vouched for.
    expect(await store.sync()).toEqual({
      ...EMPTY_SYNC_STATE,
      applying: intent(1, [V1]),
      timeFloor: new Date(T0).toISOString(),
    });
    expect(reports()).toEqual([]);
  });

  it('records the apply in progress before the driver writes, and clears it once the release is in place', async () => {
    let seen: unknown;
    const apply = driver.apply.bind(driver);
    driver.apply = async (desired, options) => {
      seen = (await store.sync()).applying;
      return apply(desired, options);
    };
    await pass(signed(1, [V1]), 'starting');
    expect(seen).toEqual(intent(1, [V1]));
    expect((await store.sync()).applying).toBeUndefined();
  });

  it('applies the same releases again after an apply that was cut short, even when the loop thinks them in place', async () => {
    await pass(signed(1, [V1]), 'starting');
    // A crash part-way through generation 2 (V2), then V1 again at generation 3.
    await store.saveSync({ ...(await store.sync()), applying: intent(2, [V2]) });
    driver.live.set(resourceKey(settings('safe')), structuredClone(settings('safe')));
    expect(await pass(signed(3, [V1]), 'applied')).toMatchObject({ kind: 'applied', generation: 3 });
    expect(driver.applies).toHaveLength(2);
    // What the torn apply wrote is not taken for drift to keep: V1's value is back.
    expect(driver.live.get(resourceKey(settings('fast')))).toEqual(settings('fast'));
    expect((await store.sync()).applying).toBeUndefined();
  });
});

function intent(generation: number, releases: ReleaseRef[]) {
  return { generation, releases, startedAt: new Date(T0).toISOString() };
}
