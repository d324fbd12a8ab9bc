import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  API_VERSION,
  canonicalize,
  DRIFT_POLICY_MAX_BYTES,
  driftPolicyDigest,
  generateKeyPair,
  sha256,
  signPayload,
  type Envelope,
} from '@flotilla/protocol';
import { defaultDriftPolicy, extendDefaultDriftPolicy } from '@flotilla/protocol/drift';
import { EMPTY_SYNC_STATE, FileAgentStore } from '../../src/agent-state.ts';
import { HubClient } from '../../src/hub-client.ts';
import { DesiredStateVerifier } from '../../src/sync/desired-state.ts';

const TARGET = `tgt_${'0'.repeat(20)}`;
const CUSTOM = extendDefaultDriftPolicy([
  { id: 'settings-are-free', match: { kinds: ['ConfigMap'] }, class: 'acceptable' },
]);
const CUSTOM_JSON = canonicalize(CUSTOM);
const CUSTOM_DIGEST = driftPolicyDigest(CUSTOM);

let dir: string;
/** A real hub stand-in on loopback: each path answers what `serve` queued for it, once. */
let hub: Server;
let hubUrl: string;
const answers = new Map<string, { status: number; body: string }[]>();
let store: FileAgentStore;
let verifier: DesiredStateVerifier;
let tokens: number;

function envelope(part: Partial<Envelope>): Envelope {
  return {
    apiVersion: API_VERSION,
    kind: 'Envelope',
    targetId: TARGET,
    generation: 1,
    bundles: [],
    holds: [],
    trustRootVersion: 1,
    issuedAt: '2026-01-01T00:00:00Z',
    expiresAt: '2026-01-02T00:00:00Z',
    ...part,
  };
}

/** The hub answers `GET /v1/drift-policies/{digest}` once with `body`; a second request gets a 500. */
function serve(digest: string, body: string, status = 200): void {
  const path = `/v1/drift-policies/${digest}`;
  answers.set(path, [...(answers.get(path) ?? []), { status, body }]);
}

const token = async (): Promise<string> => {
  tokens++;
  return 'token';
};
const policyOf = (part: Partial<Envelope>) => verifier.driftPolicyOf(envelope(part), token);
const saved = (): string[] => readdirSync(join(dir, 'drift-policies'));

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-drift-policy-'));
  answers.clear();
  hub = createServer((req, res) => {
    const answer = req.method === 'GET' ? answers.get(req.url ?? '')?.shift() : undefined;
    if (answer === undefined) res.writeHead(500).end('{"error":{"code":"UNEXPECTED","message":"not queued"}}');
    else res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
  });
  await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
  hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  store = new FileAgentStore(dir);
  verifier = new DesiredStateVerifier(new HubClient(hubUrl), store, TARGET);
  tokens = 0;
});

afterEach(async () => {
  hub.closeAllConnections();
  await new Promise((resolve) => hub.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('the drift policy an envelope names by digest', () => {
  it('is fetched once, checked, and saved: the next envelope naming it reads it from disk', async () => {
    serve(CUSTOM_DIGEST, CUSTOM_JSON);
    expect(await policyOf({ driftPolicyDigest: CUSTOM_DIGEST })).toEqual(CUSTOM);
    // The hub answers once: a second request would fail.
    const again = new DesiredStateVerifier(new HubClient(hubUrl), store, TARGET);
    expect(await again.driftPolicyOf(envelope({ driftPolicyDigest: CUSTOM_DIGEST, generation: 2 }), token)).toEqual(
      CUSTOM,
    );
    expect(tokens).toBe(1);
    expect(saved()).toEqual([`${CUSTOM_DIGEST.replace(':', '-')}.json`]);
  });

  it('is refused when the bytes served do not hash to the digest, and nothing is saved', async () => {
    serve(CUSTOM_DIGEST, canonicalize(defaultDriftPolicy));
    await expect(policyOf({ driftPolicyDigest: CUSTOM_DIGEST })).rejects.toMatchObject({
      code: 'DRIFT_POLICY_DIGEST_MISMATCH',
    });
    expect(saved()).toEqual([]);
  });

  it.each([
    ['not JSON', 'rules: []'],
    ['not a complete policy', '{"rules":[]}'],
    ['a policy with a key it does not know', canonicalize({ ...CUSTOM, owner: 'atlas' })],
  ])('is refused when what hashes to the digest is %s, and nothing is saved', async (_name, body) => {
    serve(sha256(body), body);
    await expect(policyOf({ driftPolicyDigest: sha256(body) })).rejects.toMatchObject({
      code: 'DRIFT_POLICY_INVALID',
    });
    expect(saved()).toEqual([]);
  });

  it('is refused unread past the size bound, however the hub announces it', async () => {
    const body = `{"rules":[],"pad":"${'x'.repeat(DRIFT_POLICY_MAX_BYTES)}"}`;
    serve(sha256(body), body);
    await expect(policyOf({ driftPolicyDigest: sha256(body) })).rejects.toMatchObject({ code: 'BODY_TOO_LARGE' });
    expect(saved()).toEqual([]);
  });

  it('is refused by name when it nests deeper than a policy can (40 levels, where the general bound is 256)', async () => {
    const body = `{"rules":[${'['.repeat(40)}${']'.repeat(40)}]}`;
    serve(sha256(body), body);
    await expect(policyOf({ driftPolicyDigest: sha256(body) })).rejects.toMatchObject({ code: 'JSON_TOO_DEEP' });
    expect(saved()).toEqual([]);
  });

  it('fails with DRIFT_POLICY_UNKNOWN when the hub has no policy of that digest', async () => {
    serve(CUSTOM_DIGEST, JSON.stringify({ error: { code: 'DRIFT_POLICY_UNKNOWN', message: 'no such policy' } }), 404);
    await expect(policyOf({ driftPolicyDigest: CUSTOM_DIGEST })).rejects.toMatchObject({
      code: 'DRIFT_POLICY_UNKNOWN',
    });
  });

  it('is fetched again when the saved copy does not hash to its digest', async () => {
    serve(CUSTOM_DIGEST, CUSTOM_JSON);
    await policyOf({ driftPolicyDigest: CUSTOM_DIGEST });
    writeFileSync(join(dir, 'drift-policies', `${CUSTOM_DIGEST.replace(':', '-')}.json`), CUSTOM_JSON.slice(0, 100));
    serve(CUSTOM_DIGEST, CUSTOM_JSON);
    expect(await policyOf({ driftPolicyDigest: CUSTOM_DIGEST })).toEqual(CUSTOM);
    expect(tokens).toBe(2);
  });

  it('keeps only the policies of the envelope applied and of the one being verified', async () => {
    const hubKey = generateKeyPair();
    const applied = envelope({ driftPolicyDigest: CUSTOM_DIGEST });
    await store.saveSync({
      ...EMPTY_SYNC_STATE,
      appliedGeneration: 1,
      appliedEnvelope: { envelope: applied, signature: signPayload('envelope', applied, hubKey) },
    });
    serve(CUSTOM_DIGEST, CUSTOM_JSON);
    await policyOf({ driftPolicyDigest: CUSTOM_DIGEST });
    const names = [1, 2].map((n) => {
      const policy = extendDefaultDriftPolicy([{ id: `rule-${n}`, match: { kinds: ['Secret'] }, class: 'dangerous' }]);
      serve(driftPolicyDigest(policy), canonicalize(policy));
      return driftPolicyDigest(policy);
    });
    await policyOf({ driftPolicyDigest: names[0]! });
    await policyOf({ driftPolicyDigest: names[1]! });
    expect(saved().sort()).toEqual([CUSTOM_DIGEST, names[1]!].map((d) => `${d.replace(':', '-')}.json`).sort());
  });
});

describe('a drift policy an older hub or a transfer file carries inline', () => {
  it('is used as it is, without asking the hub', async () => {
    expect(await policyOf({ driftPolicy: CUSTOM })).toEqual(CUSTOM);
    expect(tokens).toBe(0);
    expect(existsSync(join(dir, 'drift-policies'))).toBe(true);
    expect(saved()).toEqual([]);
  });

  it('is the default when the envelope names none', async () => {
    expect(await policyOf({})).toEqual(defaultDriftPolicy);
    expect(tokens).toBe(0);
  });
});
