import { describe, expect, it } from 'vitest';
import { generateKeyPair, keyIdOf, type KeyPair } from '../../src/crypto/keys.ts';
import {
  countApprovals,
  signApproval,
  verifyApprovals,
  type Approval,
  type ApproverKey,
  type SignedApproval,
} from '../../src/policy/approval.ts';

const RELEASE = `sha256:${'1'.repeat(64)}`;
const OTHER_RELEASE = `sha256:${'2'.repeat(64)}`;
const people = ['alice@acme.example', 'bob@acme.example', 'carol@acme.example', 'dave@acme.example'] as const;
const pairs: Record<string, KeyPair> = Object.fromEntries(people.map((person) => [person, generateKeyPair()]));
const spare = generateKeyPair();
const keys: ApproverKey[] = [
  ...people.map((person) => ({
    id: keyIdOf(pairs[person]!.publicKey),
    publicKey: pairs[person]!.publicKey,
    identity: person,
  })),
  // Bob has a second key, and the same public key as Dave's is also registered to "eve".
  { id: keyIdOf(spare.publicKey), publicKey: spare.publicKey, identity: 'bob@acme.example' },
  { id: 'eve-alias', publicKey: pairs['dave@acme.example']!.publicKey, identity: 'eve@acme.example' },
];
const subject = {
  rolloutId: 'ro_42',
  releaseDigest: RELEASE,
  author: 'carol@acme.example',
  action: 'approve' as const,
};

function approval(approver: string, overrides: Partial<Approval> = {}): Approval {
  return {
    apiVersion: 'flotilla.io/v1',
    kind: 'Approval',
    action: 'approve',
    rolloutId: 'ro_42',
    releaseDigest: RELEASE,
    approver,
    approvedAt: '2026-05-01T10:00:00Z',
    ...overrides,
  };
}

function signed(approver: string, key: KeyPair = pairs[approver]!, overrides: Partial<Approval> = {}): SignedApproval {
  return signApproval(approval(approver, overrides), key);
}

describe('verifying approvals', () => {
  it('accepts approvals by two distinct people with their own keys', () => {
    const verified = verifyApprovals([signed('alice@acme.example'), signed('bob@acme.example')], subject, keys);
    expect(verified.refused).toEqual([]);
    expect(countApprovals(verified.accepted).count).toBe(2);
  });

  it.each<[string, () => SignedApproval, string]>([
    ['by the author', () => signed('carol@acme.example'), 'author'],
    [
      'by the author, in other letter case',
      () => signed('carol@acme.example', pairs['carol@acme.example'], { approver: 'Carol@Acme.Example' }),
      'author',
    ],
    [
      'signed by a key not registered as an approver key',
      () => signApproval(approval('alice@acme.example'), generateKeyPair()),
      'key-unknown',
    ],
    [
      'whose signature does not verify',
      () => ({
        ...signed('alice@acme.example'),
        approval: approval('alice@acme.example', { comment: 'added after signing' }),
      }),
      'signature',
    ],
    [
      'naming another person than the key belongs to',
      () => signed('bob@acme.example', pairs['alice@acme.example']),
      'identity-mismatch',
    ],
    [
      'for another rollout',
      () => signed('alice@acme.example', pairs['alice@acme.example'], { rolloutId: 'ro_43' }),
      'rollout',
    ],
    [
      'for another release',
      () => signed('alice@acme.example', pairs['alice@acme.example'], { releaseDigest: OTHER_RELEASE }),
      'release',
    ],
    [
      'that overrides a window instead of approving',
      () => signed('alice@acme.example', pairs['alice@acme.example'], { action: 'override-window' }),
      'action',
    ],
  ])('refuses an approval %s', (_, make, reason) => {
    const verified = verifyApprovals([make()], subject, keys);
    expect(verified.accepted).toEqual([]);
    expect(verified.refused).toEqual([expect.objectContaining({ index: 0, reason })]);
  });

  it('refuses a signature re-pointed at another key id of the same person', () => {
    const forged = {
      ...signed('bob@acme.example'),
      signature: { ...signed('bob@acme.example').signature, keyId: keyIdOf(spare.publicKey) },
    };
    expect(verifyApprovals([forged], subject, keys).refused).toEqual([
      expect.objectContaining({ reason: 'signature' }),
    ]);
  });
});

describe('counting approvals', () => {
  const count = (approvals: SignedApproval[], approvers?: string[]) =>
    countApprovals(verifyApprovals(approvals, subject, keys).accepted, approvers).count;

  it('counts two approvals by one person once', () => {
    expect(count([signed('alice@acme.example'), signed('alice@acme.example')])).toBe(1);
  });

  it('counts one person with two keys once', () => {
    expect(count([signed('bob@acme.example'), signed('bob@acme.example', spare)])).toBe(1);
  });

  it('counts one key registered under two names once', () => {
    const asEve = signApproval(approval('eve@acme.example'), pairs['dave@acme.example']!);
    const withAlias = { ...asEve, signature: { ...asEve.signature, keyId: 'eve-alias' } };
    expect(count([signed('dave@acme.example'), withAlias])).toBe(1);
  });

  it('finds the most people with distinct keys, whatever the order of the approvals', () => {
    const asEve = signApproval(approval('eve@acme.example'), pairs['dave@acme.example']!);
    const approvals = [
      signed('dave@acme.example'),
      { ...asEve, signature: { ...asEve.signature, keyId: 'eve-alias' } },
      signed('alice@acme.example'),
      signed('bob@acme.example', spare),
      signed('bob@acme.example'),
    ];
    expect(count(approvals)).toBe(3);
    expect(count([...approvals].reverse())).toBe(3);
  });

  it("counts only approvers matching the policy's globs", () => {
    expect(count([signed('alice@acme.example'), signed('bob@acme.example')], ['alice@*'])).toBe(1);
    expect(count([signed('alice@acme.example'), signed('bob@acme.example')], ['*@acme.example'])).toBe(2);
  });
});
