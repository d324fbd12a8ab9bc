import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION, generateKeyPair, keyIdOf, signPayload, type KeyPair, type TrustRoot } from '@flotilla/protocol';
import { type EnrollResponse } from '@flotilla/protocol/api';
import { FileAgentStore } from '../src/agent-state.ts';
import { ensureEnrolled, trustRootMatchesPin } from '../src/enroll.ts';
import type { HubClient } from '../src/hub-client.ts';

const rootKey = generateKeyPair();
const hubKey = generateKeyPair();
const trustRoot: TrustRoot = {
  apiVersion: API_VERSION,
  kind: 'TrustRoot',
  hubId: 'hub-1',
  version: 1,
  keys: [
    { id: keyIdOf(rootKey.publicKey), publicKey: rootKey.publicKey, roles: ['root'] },
    { id: keyIdOf(hubKey.publicKey), publicKey: hubKey.publicKey, roles: ['hub'] },
  ],
  thresholds: { root: 1, release: 1 },
  issuedAt: '2025-03-01T12:00:00.000Z',
};
const answer: EnrollResponse = {
  targetId: 'tgt_0123456789abcdef0123',
  name: 'eu-1',
  hubId: 'hub-1',
  audience: 'urn:flotilla:hub:hub-1',
  trustRoot: { trustRoot, signatures: [signPayload('trust-root', trustRoot, rootKey)] },
};
const hub = { enroll: async () => answer } as unknown as HubClient;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flotilla-pin-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the trust-root pin', () => {
  it.each([
    ['the root key id', keyIdOf(rootKey.publicKey), true],
    ['the root public key', rootKey.publicKey, true],
    ['the hub key id (not a root key)', keyIdOf(hubKey.publicKey), false],
    ['another key id', keyIdOf(generateKeyPair().publicKey), false],
  ])('matches %s: %s', (_what, pin, matches) => {
    expect(trustRootMatchesPin(trustRoot, pin)).toBe(matches);
  });

  it('lets the agent enroll with a hub whose trust root holds the pinned key, and keeps the trust root', async () => {
    const store = new FileAgentStore(dir);
    const enrollment = await ensureEnrolled(hub, store, {
      enrollToken: 't',
      trustRootPin: keyIdOf(rootKey.publicKey),
      now: () => Date.parse('2025-03-01T12:00:00Z'),
    });
    expect(enrollment.targetId).toBe(answer.targetId);
    expect((await store.trustRoot())?.trustRoot).toEqual(trustRoot);
  });

  it('refuses to enroll with a hub whose trust root lacks the pinned key, and keeps nothing', async () => {
    const store = new FileAgentStore(dir);
    const other: KeyPair = generateKeyPair();
    await expect(
      ensureEnrolled(hub, store, { enrollToken: 't', trustRootPin: keyIdOf(other.publicKey), now: Date.now }),
    ).rejects.toMatchObject({
      code: 'TRUST_ROOT_INVALID',
      message: expect.stringContaining(keyIdOf(rootKey.publicKey)),
    });
    expect(await store.enrollment()).toBeUndefined();
    expect(await store.trustRoot()).toBeUndefined();
  });
});
