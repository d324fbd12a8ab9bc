import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { importAttestationKeys } from '../../src/policy/attestation-keys.ts';
import { decodeBase64, preAuthEncoding, verifyDsse } from '../../src/policy/dsse.ts';
import { normalizeRepository } from '../../src/policy/provenance.ts';
import { verifyProvenance } from '../../src/policy/verify-provenance.ts';
import { dsseEnvelope, ecdsaSigner, ed25519Signer, hexOf, pae, sigstoreBundle, statement } from './policy-fixtures.ts';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');
const RELEASE = `sha256:${'d'.repeat(64)}`;
const IN_TOTO = ['application/vnd.in-toto+json'];

describe('DSSE pre-authentication encoding', () => {
  it.each([
    [
      'the spec example',
      'http://example.com/HelloWorld',
      'hello world',
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    ],
    [
      'an empty body, which keeps its trailing space',
      'application/vnd.in-toto+json',
      '',
      'DSSEv1 28 application/vnd.in-toto+json 0 ',
    ],
    ['an empty type', '', 'x', 'DSSEv1 0  1 x'],
  ])('encodes %s', (_, type, body, expected) => {
    expect(text(preAuthEncoding(type, Buffer.from(body)))).toBe(expected);
  });

  it('counts the bytes of a non-ASCII type, not its characters', () => {
    expect(text(preAuthEncoding('application/vnd.exämple+json', Buffer.from('{}')))).toMatch(/^DSSEv1 29 /);
  });

  it('agrees with the encoding written out from the spec, for any type and body', () => {
    fc.assert(
      fc.property(fc.string(), fc.uint8Array({ maxLength: 300 }), (type, body) => {
        expect(Buffer.from(preAuthEncoding(type, body)).equals(pae(type, Buffer.from(body)))).toBe(true);
      }),
    );
  });

  it('verifies an Ed25519 signature made with the RFC 8032 test key over the spec vector', () => {
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    const privateKey = createPrivateKey({
      key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
      format: 'der',
      type: 'pkcs8',
    });
    const body = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}');
    const envelope = {
      payload: body.toString('base64'),
      payloadType: 'application/vnd.in-toto+json',
      signatures: [
        { keyid: 'A', sig: sign(null, pae('application/vnd.in-toto+json', body), privateKey).toString('base64') },
      ],
    };
    const keys = importAttestationKeys([
      {
        id: 'A',
        algorithm: 'ed25519',
        publicKey: Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex').toString(
          'base64url',
        ),
      },
    ]);
    expect(verifyDsse(envelope, keys, IN_TOTO).signers).toEqual(['A']);
    expect(envelope.signatures[0]!.sig).toBe(
      '2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA==',
    );
  });
});

describe('base64 in DSSE', () => {
  it.each([
    ['aGVsbG8gd29ybGQ=', 'hello world'],
    ['aGVsbG8gd29ybGQ', 'hello world'],
    ['-_-_Pj8=', '\u00fb\u00ff\u00bf>?'],
    ['+/+/Pj8=', '\u00fb\u00ff\u00bf>?'],
    ['', ''],
  ])('decodes %s in either alphabet', (encoded, decoded) => {
    expect(text(decodeBase64(encoded)!)).toBe(decoded);
  });

  it.each(['a', 'aGVsbG8gd29ybGR=', '-_+/', 'aGVs bG8=', 'aGVsbG8gd29ybGQ==='])('refuses %s', (encoded) => {
    expect(decodeBase64(encoded)).toBeUndefined();
  });
});

describe('verifying a DSSE envelope', () => {
  const builder = ecdsaSigner('ci-builder');
  const release = ed25519Signer('release-engineer');
  const keys = importAttestationKeys([builder.key, release.key]);
  const body = statement(hexOf(RELEASE));

  it('accepts ECDSA P-256 (DER, as cosign signs) and Ed25519 signatures, naming each key once', () => {
    expect(verifyDsse(dsseEnvelope(body, [builder, release]), keys, IN_TOTO).signers).toEqual([
      'ci-builder',
      'release-engineer',
    ]);
  });

  it('accepts an ECDSA signature in raw r||s form, as the DSSE test vectors write it', () => {
    const raw = Buffer.from(JSON.stringify(body));
    const sig = sign('sha256', pae('application/vnd.in-toto+json', raw), {
      key: builder.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    expect(
      verifyDsse(
        {
          payload: raw.toString('base64'),
          payloadType: 'application/vnd.in-toto+json',
          signatures: [{ sig: sig.toString('base64') }],
        },
        keys,
        IN_TOTO,
      ).signers,
    ).toEqual(['ci-builder']);
  });

  it('counts two signatures by one key once, and one key under two ids once', () => {
    const envelope = dsseEnvelope(body, [builder, builder]);
    const twice = importAttestationKeys([builder.key, { ...builder.key, id: 'alias' }]);
    expect(verifyDsse(envelope, twice, IN_TOTO).signers).toEqual(['ci-builder']);
  });

  it('ignores the keyid hint: a signature under a wrong keyid still counts for the key that made it', () => {
    const envelope = dsseEnvelope(body, [builder]);
    envelope.signatures[0]!.keyid = 'release-engineer';
    expect(verifyDsse(envelope, keys, IN_TOTO).signers).toEqual(['ci-builder']);
  });

  it.each([
    ['signed by a key not given', () => dsseEnvelope(body, [ecdsaSigner('stranger')]), 'signature'],
    [
      'its payload type swapped after signing',
      () => ({ ...dsseEnvelope(body, [builder]), payloadType: 'application/vnd.example+json' }),
      'signature',
    ],
    [
      'its payload tampered after signing',
      () => {
        const envelope = dsseEnvelope(body, [builder]);
        return {
          ...envelope,
          payload: Buffer.from(
            JSON.stringify(statement(hexOf(RELEASE), { builder: 'https://evil.example/builder' })),
          ).toString('base64'),
        };
      },
      'signature',
    ],
    [
      'signed over an unsupported payload type',
      () => dsseEnvelope(body, [builder], 'application/json'),
      'payload-type',
    ],
    ['a payload that is not base64', () => ({ ...dsseEnvelope(body, [builder]), payload: 'not base64!' }), 'encoding'],
  ])('refuses an envelope %s', (_, make, reason) => {
    expect(() => verifyDsse(make(), keys, IN_TOTO)).toThrow(
      expect.objectContaining({ code: 'ATTESTATION_INVALID', details: { reason } }),
    );
  });

  it('refuses a weak Ed25519 key when keys are imported', () => {
    expect(() =>
      importAttestationKeys([{ id: 'weak', algorithm: 'ed25519', publicKey: Buffer.alloc(32).toString('base64url') }]),
    ).toThrow(expect.objectContaining({ code: 'KEY_WEAK' }));
  });

  it('refuses an ECDSA key on another curve', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    expect(() =>
      importAttestationKeys([
        {
          id: 'p384',
          algorithm: 'ecdsa-p256-sha256',
          publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
        },
      ]),
    ).toThrow(expect.objectContaining({ code: 'KEY_UNKNOWN' }));
  });
});

describe('provenance of a release', () => {
  const builder = ecdsaSigner('ci-builder');
  const keys = importAttestationKeys([builder.key]);

  it('reads the builder and the source commit from a SLSA v1 statement about the release', () => {
    const verified = verifyProvenance(
      { format: 'dsse', envelope: dsseEnvelope(statement(hexOf(RELEASE)), [builder]) },
      RELEASE,
      keys,
    );
    expect(verified).toEqual({
      format: 'dsse',
      signers: ['ci-builder'],
      builderId: 'https://github.com/actions/runner/github-hosted',
      buildType: 'https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1',
      sources: [{ repository: 'github.com/acme/payments', commit: 'c'.repeat(40) }],
    });
  });

  it.each([
    ['whose subject is another artifact', statement('e'.repeat(64)), 'subject'],
    [
      'with another predicate type',
      statement(hexOf(RELEASE), { predicateType: 'https://spdx.dev/Document' }),
      'predicate',
    ],
    ['that is not an in-toto statement', { hello: 'world' }, 'statement'],
    [
      'whose predicate lacks the builder',
      {
        ...statement(hexOf(RELEASE)),
        predicate: { buildDefinition: { buildType: 'x', externalParameters: {} }, runDetails: {} },
      },
      'predicate',
    ],
  ])('refuses a statement %s', (_, body, reason) => {
    expect(() => verifyProvenance({ format: 'dsse', envelope: dsseEnvelope(body, [builder]) }, RELEASE, keys)).toThrow(
      expect.objectContaining({ details: { reason } }),
    );
  });

  it.each([
    ['git+https://github.com/acme/payments@refs/heads/main', 'github.com/acme/payments'],
    ['git+https://GitHub.com/Acme/payments.git@v1.2.0', 'github.com/Acme/payments'],
    ['https://gitlab.example.com/group/sub/repo', 'gitlab.example.com/group/sub/repo'],
    ['git+ssh://git@github.com/acme/payments.git', 'github.com/acme/payments'],
  ])('names the repository of %s as %s', (uri, repository) => {
    expect(normalizeRepository(uri)).toBe(repository);
  });
});

describe('Sigstore bundles, verified offline against a key', () => {
  const builder = ecdsaSigner('cosign-key');
  const edKey = ed25519Signer('ed-key');
  const keys = importAttestationKeys([builder.key, edKey.key]);
  const body = statement(hexOf(RELEASE));

  it.each([
    ['ECDSA P-256', builder],
    ['Ed25519', edKey],
  ])('accepts a v0.3 bundle with a DSSE envelope signed by a %s key', (_, signer) => {
    const verified = verifyProvenance(
      { format: 'sigstore-bundle', bundle: sigstoreBundle(body, signer) },
      RELEASE,
      keys,
    );
    expect(verified).toMatchObject({
      format: 'sigstore-bundle',
      signers: [signer.key.id],
      sources: [{ repository: 'github.com/acme/payments' }],
    });
  });

  it.each([
    'application/vnd.dev.sigstore.bundle+json;version=0.2',
    'application/vnd.dev.sigstore.bundle+json;version=0.3',
  ])('accepts the older media type %s', (mediaType) => {
    const bundle = { ...sigstoreBundle(body, builder), mediaType };
    expect(verifyProvenance({ format: 'sigstore-bundle', bundle }, RELEASE, keys).signers).toEqual(['cosign-key']);
  });

  it('refuses a bundle signed by a key not given', () => {
    expect(() =>
      verifyProvenance(
        { format: 'sigstore-bundle', bundle: sigstoreBundle(body, ecdsaSigner('stranger')) },
        RELEASE,
        keys,
      ),
    ).toThrow(expect.objectContaining({ details: { reason: 'signature' } }));
  });

  it('refuses a bundle whose payload was replaced after signing', () => {
    const bundle = sigstoreBundle(body, builder);
    bundle.dsseEnvelope.payload = Buffer.from(
      JSON.stringify(statement(hexOf(RELEASE), { repo: 'github.com/evil/payments' })),
    ).toString('base64');
    expect(() => verifyProvenance({ format: 'sigstore-bundle', bundle }, RELEASE, keys)).toThrow(
      expect.objectContaining({ details: { reason: 'signature' } }),
    );
  });

  it('refuses a bundle whose statement is about another artifact', () => {
    expect(() =>
      verifyProvenance(
        { format: 'sigstore-bundle', bundle: sigstoreBundle(statement('f'.repeat(64)), builder) },
        RELEASE,
        keys,
      ),
    ).toThrow(expect.objectContaining({ details: { reason: 'subject' } }));
  });

  it('refuses a keyless bundle, which needs Fulcio and Rekor roots a site does not hold', () => {
    const bundle: Record<string, unknown> = sigstoreBundle(body, builder);
    bundle['verificationMaterial'] = {
      certificate: { rawBytes: Buffer.from('not a certificate').toString('base64') },
      tlogEntries: [],
    };
    expect(() => verifyProvenance({ format: 'sigstore-bundle', bundle }, RELEASE, keys)).toThrow(
      expect.objectContaining({ code: 'ATTESTATION_INVALID' }),
    );
  });

  it('refuses a message-signature bundle, which carries no statement', () => {
    const bundle = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: 'x' }, tlogEntries: [] },
      messageSignature: {
        messageDigest: { algorithm: 'SHA2_256', digest: Buffer.alloc(32).toString('base64') },
        signature: Buffer.from('sig').toString('base64'),
      },
    };
    expect(() => verifyProvenance({ format: 'sigstore-bundle', bundle }, RELEASE, keys)).toThrow(
      expect.objectContaining({ details: { reason: 'content' } }),
    );
  });

  it('refuses something that is not a Sigstore bundle', () => {
    expect(() =>
      verifyProvenance({ format: 'sigstore-bundle', bundle: { mediaType: 'application/json' } }, RELEASE, keys),
    ).toThrow(expect.objectContaining({ details: { reason: 'encoding' } }));
  });
});
