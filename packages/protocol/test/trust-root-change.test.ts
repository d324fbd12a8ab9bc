import { describe, expect, it } from 'vitest';
import { API_VERSION, generateKeyPair, keyIdOf, nextTrustRoot, type TrustRoot } from '../src/index.ts';

const rootKey = generateKeyPair();
const hubKey = generateKeyPair();
const ISSUED = '2026-12-03T12:00:00.000Z';
const IDENTITY_POINT = Buffer.from([1, ...new Array<number>(31).fill(0)]).toString('base64url');

const current: TrustRoot = {
  apiVersion: API_VERSION,
  kind: 'TrustRoot',
  hubId: 'hub_test',
  version: 4,
  keys: [
    { id: keyIdOf(rootKey.publicKey), publicKey: rootKey.publicKey, roles: ['root'] },
    { id: keyIdOf(hubKey.publicKey), publicKey: hubKey.publicKey, roles: ['hub'] },
  ],
  thresholds: { root: 1, release: 1 },
  issuedAt: '2026-12-01T00:00:00.000Z',
};

describe('nextTrustRoot', () => {
  it('makes the next version with a second root key and a root threshold of two', () => {
    const second = generateKeyPair();
    const next = nextTrustRoot(
      current,
      { addKeys: [{ publicKey: second.publicKey, roles: ['root'] }], thresholds: { root: 2 } },
      ISSUED,
    );
    expect(next).toMatchObject({ version: 5, thresholds: { root: 2, release: 1 }, issuedAt: ISSUED });
    expect(next.keys.filter((k) => k.roles.includes('root')).map((k) => k.id)).toEqual([
      keyIdOf(rootKey.publicKey),
      keyIdOf(second.publicKey),
    ]);
  });

  it('gives a key already listed the added role instead of listing it twice', () => {
    const next = nextTrustRoot(current, { addKeys: [{ publicKey: hubKey.publicKey, roles: ['release'] }] }, ISSUED);
    expect(next.keys).toHaveLength(2);
    expect(next.keys.find((k) => k.publicKey === hubKey.publicKey)?.roles).toEqual(['hub', 'release']);
  });

  it.each([
    ['a key of small order', { addKeys: [{ publicKey: IDENTITY_POINT, roles: ['release' as const] }] }, 'KEY_WEAK'],
    ['a root threshold above the root keys', { thresholds: { root: 2 } }, 'VALIDATION_FAILED'],
    ['removing the only hub key', { removeKeyIds: [keyIdOf(hubKey.publicKey)] }, 'VALIDATION_FAILED'],
    ['removing a key it does not list', { removeKeyIds: ['0000000000000000'] }, 'VALIDATION_FAILED'],
  ])('refuses %s', (_name, change, code) => {
    expect(() => nextTrustRoot(current, change, ISSUED)).toThrow(expect.objectContaining({ code }));
  });
});
