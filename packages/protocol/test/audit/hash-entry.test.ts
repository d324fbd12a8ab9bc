import { verify as nodeVerify, createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/canonical-json.ts';
import { isFlotillaError } from '../../src/errors.ts';
import {
  AUDIT_GENESIS_HASH,
  AuditEntry,
  canonicalAuditBody,
  hashAuditBody,
  hashAuditEntry,
  hashAuditLink,
  type AuditEntryBody,
} from '../../src/audit/index.ts';
import { checkpointAt, hubKey } from './audit-fixture.ts';

// Known answers computed outside this code base, with printf | sha256sum over the strings below.
const body1: AuditEntryBody = {
  seq: 1,
  time: '2025-01-02T03:04:05.678Z',
  actor: { kind: 'user', id: 'alice@example.com' },
  action: 'target.label',
  subjects: ['tgt_0123456789abcdef0123'],
  outcome: 'success',
  reason: null,
  details: { to: { env: 'prod' }, from: { env: 'staging' }, note: 'café ☕' },
  salt: 'AAECAwQFBgcICQoLDA0ODw',
};
const canonical1 =
  '{"action":"target.label","actor":{"id":"alice@example.com","kind":"user"},"details":{"from":{"env":"staging"},"note":"café ☕","to":{"env":"prod"}},"outcome":"success","reason":null,"salt":"AAECAwQFBgcICQoLDA0ODw","seq":1,"subjects":["tgt_0123456789abcdef0123"],"time":"2025-01-02T03:04:05.678Z"}';
const bodyHash1 = 'sha256:b085e54bca244ec4eb423167c7e798624f772ccfa0670a0cbffb32fc2044b872';
const hash1 = 'sha256:3538b4b7c14b2142226a5d7d1732735817f8223dd0f7ba6c12166415c5d23531';

const body2: AuditEntryBody = {
  seq: 2,
  time: '2025-01-02T03:04:06.000Z',
  actor: { kind: 'agent', id: 'anonymous' },
  action: 'enroll.refused',
  subjects: [],
  outcome: 'refused',
  reason: 'ENROLL_TOKEN_INVALID',
  details: {},
  salt: '_____________________w',
};
const bodyHash2 = 'sha256:e677565e051fcc537e6f147c5ed35b72db62509754f9fa60505c1e65cb12b993';
const hash2 = 'sha256:28c386ff8ecae8f0b697071bb4398b7fd1ee5c8a67b4abd1445ad03dec135ea5';

describe('hashing an audit entry', () => {
  it('the genesis hash is sha256: and 64 zeros', () => {
    expect(AUDIT_GENESIS_HASH).toBe(`sha256:${'0'.repeat(64)}`);
  });

  it('the body is the RFC 8785 form of the nine body members, non-ASCII kept as UTF-8', () => {
    expect(canonicalAuditBody(body1)).toBe(canonical1);
    expect(hashAuditBody(body1)).toBe(bodyHash1);
  });

  it('the entry hash is the sha256 of the canonical link {bodyHash, prevHash, seq}', () => {
    expect(hashAuditLink(1, AUDIT_GENESIS_HASH, bodyHash1)).toBe(hash1);
    expect(hashAuditEntry({ ...body1, prevHash: AUDIT_GENESIS_HASH })).toBe(hash1);
  });

  it('the second entry chains to the first', () => {
    expect(hashAuditBody(body2)).toBe(bodyHash2);
    expect(hashAuditEntry({ ...body2, prevHash: hash1 })).toBe(hash2);
  });

  it('members outside the body and the link are not hashed, so the schema refuses them', () => {
    const entry = { ...body1, prevHash: AUDIT_GENESIS_HASH, hash: hash1 };
    expect(hashAuditEntry({ ...entry, extra: 1 } as AuditEntry)).toBe(hash1);
    expect(AuditEntry.safeParse({ ...entry, extra: 1 }).success).toBe(false);
    expect(AuditEntry.safeParse(entry).success).toBe(true);
  });

  it('refuses a link over something that is not a digest', () => {
    expect(() => hashAuditLink(1, 'sha256:abc', bodyHash1)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
    expect(() => hashAuditLink(0, AUDIT_GENESIS_HASH, bodyHash1)).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
  });

  it('refuses a lone surrogate, which RFC 8785 cannot encode', () => {
    let caught: unknown;
    try {
      canonicalAuditBody({ ...body1, reason: '\ud800' });
    } catch (error) {
      caught = error;
    }
    expect(isFlotillaError(caught, 'CANONICAL_JSON_UNSUPPORTED')).toBe(true);
  });

  it('the hand-written body serializer agrees with canonicalize() for any valid body', () => {
    const json: fc.Arbitrary<unknown> = fc.jsonValue();
    const body = fc.record({
      seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      time: fc
        .date({ min: new Date(0), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true })
        .map((d) => d.toISOString()),
      actor: fc.record({
        kind: fc.constantFrom('user' as const, 'agent' as const, 'system' as const),
        id: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
      }),
      action: fc.constantFrom('target.label', 'enroll.refused', 'trust-root.add-release-key'),
      subjects: fc.array(fc.stringMatching(/^tgt_[0-9a-f]{20}$/), { maxLength: 4 }),
      outcome: fc.constantFrom('success' as const, 'refused' as const, 'failure' as const),
      reason: fc.option(fc.string({ unit: 'grapheme', maxLength: 40 }), { nil: null }),
      details: fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 8 }), json, { maxKeys: 6 }),
      salt: fc.stringMatching(/^[A-Za-z0-9_-]{22}$/),
    });
    fc.assert(
      fc.property(body, (b) => {
        expect(canonicalAuditBody(b)).toBe(canonicalize(b));
      }),
      { numRuns: 500 },
    );
  });
});

describe('signing a checkpoint', () => {
  it('signs "flotilla.io/v1/audit-checkpoint\\n" followed by the canonical checkpoint', () => {
    const signed = checkpointAt(2, hash2);
    const bytes = Buffer.from(`flotilla.io/v1/audit-checkpoint\n${canonicalize(signed.checkpoint)}`, 'utf8');
    const spki = Buffer.concat([
      Buffer.from('302a300506032b6570032100', 'hex'),
      Buffer.from(hubKey.publicKey, 'base64url'),
    ]);
    const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    expect(nodeVerify(null, bytes, publicKey, Buffer.from(signed.signature.sig, 'base64url'))).toBe(true);
    expect(canonicalize(signed.checkpoint)).toBe(
      `{"apiVersion":"flotilla.io/v1","hash":"${hash2}","kind":"AuditCheckpoint","seq":2,"time":"${signed.checkpoint.time}"}`,
    );
  });
});
