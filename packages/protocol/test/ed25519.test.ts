import fc from 'fast-check';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { countValidSigners, verifyCanonical, verifyCanonicalInPool } from '../src/crypto/keys.ts';
import { canonicalize, generateKeyPair, keyIdOf, signPayload, verifyPayload } from '../src/index.ts';
import { toBase64Url } from '../src/crypto/base64url.ts';
import { nodeBackend, strictVerify, strictVerifyInPool } from '../src/crypto/ed25519.ts';
import { tweetnaclBackend } from '../src/crypto/tweetnacl-backend.ts';

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'));

// RFC 8032 section 7.1, test 1 and test 2.
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
];

// L, the group order, little-endian: adding it to S gives a second encoding of the same scalar.
const L = hex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');

function addL(signature: Uint8Array): Uint8Array {
  const out = Uint8Array.from(signature);
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const sum = out[32 + i]! + L[i]! + carry;
    out[32 + i] = sum & 0xff;
    carry = sum >> 8;
  }
  return out;
}

describe.each([nodeBackend, tweetnaclBackend])('Ed25519 through $name', (backend) => {
  it.each(RFC8032)('signs and verifies RFC 8032 vector with public key $publicKey', (vector) => {
    const signature = backend.sign(hex(vector.seed), hex(vector.message));
    expect(Buffer.from(signature).toString('hex')).toBe(vector.signature);
    expect(strictVerify(hex(vector.publicKey), hex(vector.message), signature, backend)).toBe(true);
  });

  it('rejects a non-canonical signature whose S is not below the group order', () => {
    const vector = RFC8032[0]!;
    const malleated = addL(hex(vector.signature));
    expect(strictVerify(hex(vector.publicKey), hex(vector.message), malleated, backend)).toBe(false);
  });

  it('rejects the identity as a public key, which would verify a signature anyone can forge', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const forged = new Uint8Array(64);
    forged[0] = 1;
    expect(strictVerify(identity, new TextEncoder().encode('anything'), forged, backend)).toBe(false);
  });

  it('rejects wrong lengths without throwing', () => {
    const vector = RFC8032[0]!;
    expect(strictVerify(hex(vector.publicKey).subarray(1), new Uint8Array(), hex(vector.signature), backend)).toBe(
      false,
    );
    expect(strictVerify(hex(vector.publicKey), new Uint8Array(), hex(vector.signature).subarray(1), backend)).toBe(
      false,
    );
  });
});

describe('strict verification', () => {
  it('is needed: tweetnacl alone accepts the forged identity-key signature', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const forged = new Uint8Array(64);
    forged[0] = 1;
    expect(tweetnaclBackend.verify(identity, new TextEncoder().encode('anything'), forged)).toBe(true);
  });

  it('agrees between node:crypto and tweetnacl on random keys, messages and corruptions', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(63),
        fc.boolean(),
        (seed, message, flip, corrupt) => {
          const signature = nodeBackend.sign(seed, message);
          const pub = nacl.sign.keyPair.fromSeed(seed).publicKey;
          if (corrupt) signature[flip]! ^= 0x01;
          expect(strictVerify(pub, message, signature, nodeBackend)).toBe(
            strictVerify(pub, message, signature, tweetnaclBackend),
          );
          expect(strictVerify(pub, message, signature, nodeBackend)).toBe(!corrupt);
        },
      ),
      { numRuns: 200 },
    );
    // tweetnacl verifies in pure JavaScript (about 10 ms each): 200 runs need more than the default 5 s on a busy machine.
  }, 60_000);

  it('agrees between node:crypto and tweetnacl on any 32 bytes as a public key, most of them no curve point', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        (pub, signature) => {
          const message = new TextEncoder().encode('anything');
          expect(strictVerify(pub, message, signature, nodeBackend)).toBe(
            strictVerify(pub, message, signature, tweetnaclBackend),
          );
        },
      ),
      { numRuns: 100 },
    );
  }, 60_000);

  it('signs with a key pair node:crypto just generated exactly as with its seed', () => {
    for (let i = 0; i < 20; i++) {
      const { publicKey, seed } = nodeBackend.generate();
      const message = new TextEncoder().encode(`message ${i}`);
      expect(nodeBackend.sign(seed, message)).toEqual(tweetnaclBackend.sign(seed, message));
      expect(nacl.sign.keyPair.fromSeed(seed).publicKey).toEqual(publicKey);
    }
  });
});

describe('signed payloads', () => {
  const key = generateKeyPair();

  it('are byte-identical from node:crypto, which the hub signs envelopes with, and tweetnacl (Ed25519 is deterministic)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.jsonValue(), (seed, payload) => {
        const pair = {
          kty: 'ed25519' as const,
          publicKey: toBase64Url(nacl.sign.keyPair.fromSeed(seed).publicKey),
          seed: toBase64Url(seed),
        };
        expect(signPayload('envelope', payload, pair, nodeBackend)).toEqual(
          signPayload('envelope', payload, pair, tweetnaclBackend),
        );
      }),
      { numRuns: 50 },
    );
    // The default backend is node:crypto: what an envelope is signed with unless a caller says otherwise.
    expect(signPayload('envelope', { generation: 1 }, key)).toEqual(
      signPayload('envelope', { generation: 1 }, key, nodeBackend),
    );
  }, 60_000);

  it('verify for the purpose they were made for and no other', () => {
    const signature = signPayload('report', { seq: 1 }, key);
    expect(verifyPayload('report', { seq: 1 }, signature, key.publicKey)).toBe(true);
    expect(verifyPayload('envelope', { seq: 1 }, signature, key.publicKey)).toBe(false);
  });

  it('survive key reordering but not a changed value', () => {
    const signature = signPayload('report', { a: 1, b: 2 }, key);
    expect(verifyPayload('report', { b: 2, a: 1 }, signature, key.publicKey)).toBe(true);
    expect(verifyPayload('report', { a: 1, b: 3 }, signature, key.publicKey)).toBe(false);
  });

  it('name their key by the first 16 hex digits of its sha256', () => {
    expect(signPayload('report', {}, key).keyId).toBe(keyIdOf(key.publicKey));
    expect(keyIdOf(key.publicKey)).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('countValidSigners', () => {
  const a = generateKeyPair();
  const b = generateKeyPair();
  const payload = { digest: 'sha256:00' };
  const trusted = [
    { id: keyIdOf(a.publicKey), publicKey: a.publicKey },
    { id: keyIdOf(b.publicKey), publicKey: b.publicKey },
  ];

  it('counts each distinct public key once', () => {
    const signatures = [signPayload('bundle', payload, a), signPayload('bundle', payload, b)];
    expect(countValidSigners('bundle', payload, signatures, trusted)).toBe(2);
  });

  it('does not count a repeated signature twice', () => {
    const signature = signPayload('bundle', payload, a);
    expect(countValidSigners('bundle', payload, [signature, signature, { ...signature }], trusted)).toBe(1);
  });

  it('does not count one public key listed under two ids twice', () => {
    const signature = signPayload('bundle', payload, a);
    const aliased = [...trusted, { id: 'alias', publicKey: a.publicKey }];
    expect(countValidSigners('bundle', payload, [signature, { ...signature, keyId: 'alias' }], aliased)).toBe(1);
  });

  it('ignores signatures of keys it does not trust', () => {
    const stranger = generateKeyPair();
    expect(countValidSigners('bundle', payload, [signPayload('bundle', payload, stranger)], trusted)).toBe(0);
  });
});

describe('verification on the thread pool', () => {
  it('accepts exactly what the synchronous strict verification accepts', async () => {
    const vector = RFC8032[0]!;
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const forged = new Uint8Array(64);
    forged[0] = 1;
    const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
      [hex(vector.publicKey), hex(vector.message), hex(vector.signature)],
      [hex(RFC8032[1]!.publicKey), hex(RFC8032[1]!.message), hex(RFC8032[1]!.signature)],
      [hex(vector.publicKey), hex(vector.message), addL(hex(vector.signature))],
      [identity, new TextEncoder().encode('anything'), forged],
      [hex(vector.publicKey).subarray(1), new Uint8Array(), hex(vector.signature)],
      [hex(vector.publicKey), new Uint8Array(), hex(vector.signature).subarray(1)],
      [hex(vector.publicKey), hex('00'), hex(vector.signature)],
    ];
    for (const [pub, message, signature] of cases)
      expect(await strictVerifyInPool(pub, message, signature)).toBe(
        strictVerify(pub, message, signature, tweetnaclBackend),
      );
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(63),
        fc.boolean(),
        async (seed, message, flip, corrupt) => {
          const signature = nodeBackend.sign(seed, message);
          const pub = nacl.sign.keyPair.fromSeed(seed).publicKey;
          if (corrupt) signature[flip]! ^= 0x01;
          expect(await strictVerifyInPool(pub, message, signature)).toBe(
            strictVerify(pub, message, signature, nodeBackend),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it('verifies a payload given as its canonical JSON for its purpose only', async () => {
    const key = generateKeyPair();
    const payload = { seq: 1, b: [true, null], a: 'x' };
    const signature = signPayload('report', payload, key);
    expect(await verifyCanonicalInPool('report', canonicalize(payload), signature, key.publicKey)).toBe(true);
    expect(await verifyCanonicalInPool('envelope', canonicalize(payload), signature, key.publicKey)).toBe(false);
    expect(await verifyCanonicalInPool('report', canonicalize({ ...payload, seq: 2 }), signature, key.publicKey)).toBe(
      false,
    );
    expect(
      await verifyCanonicalInPool('report', canonicalize(payload), { ...signature, sig: '!' }, key.publicKey),
    ).toBe(false);
  });

  it('verifies a payload given as canonical JSON on the calling thread, as verifyPayload does', () => {
    const key = generateKeyPair();
    const payload = { seq: 1, b: [true, null], a: 'x' };
    const signature = signPayload('report', payload, key);
    expect(verifyCanonical('report', canonicalize(payload), signature, key.publicKey)).toBe(true);
    expect(verifyCanonical('envelope', canonicalize(payload), signature, key.publicKey)).toBe(false);
    expect(verifyCanonical('report', canonicalize({ ...payload, seq: 2 }), signature, key.publicKey)).toBe(false);
    expect(verifyCanonical('report', canonicalize(payload), { ...signature, sig: '!' }, key.publicKey)).toBe(false);
    expect(verifyCanonical('report', canonicalize(payload), signature, generateKeyPair().publicKey)).toBe(false);
  });
});
