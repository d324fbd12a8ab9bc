/** Builders for policy tests: targets, releases, keys, and DSSE envelopes made independently of the verifier. */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { Target } from '../../src/documents/target.ts';
import type { Bundle, SignedBundle } from '../../src/documents/bundle.ts';
import { generateKeyPair, keyIdOf, type KeyPair } from '../../src/crypto/keys.ts';
import { signBundle } from '../../src/sign-bundle.ts';
import type { AttestationKey } from '../../src/policy/attestation-keys.ts';

let counter = 0;

export interface TargetSpec {
  readonly name?: string;
  readonly status?: Target['status'];
  readonly labels?: Target['labels'];
  readonly properties?: Target['properties'];
  readonly facts?: Record<string, unknown>;
  readonly health?: 'healthy' | 'degraded';
}

export function makeTarget(spec: TargetSpec = {}): Target {
  counter += 1;
  return {
    id: `tgt_${counter.toString(16).padStart(20, '0')}`,
    name: spec.name ?? `target-${counter}`,
    status: spec.status ?? 'active',
    labels: spec.labels ?? {},
    properties: spec.properties ?? {},
    facts: spec.facts ?? {},
    keyId: 'key-1',
    desired: { generation: 1, bundles: [] },
    observed:
      spec.health === undefined
        ? null
        : {
            seq: 1,
            generation: 1,
            phase: 'applied',
            health: spec.health,
            bundles: [],
            reportedAt: '2026-01-01T00:00:00Z',
          },
    enrolledAt: '2025-01-01T00:00:00Z',
    lastSeenAt: '2026-01-01T00:00:00Z',
    lastChangedAt: '2026-01-01T00:00:00Z',
    lastChangedBy: { kind: 'user', id: 'alice' },
  };
}

export const RELEASE_KEYS: readonly KeyPair[] = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
export const releaseTrust = RELEASE_KEYS.map((key) => ({ id: keyIdOf(key.publicKey), publicKey: key.publicKey }));

export function makeBundle(images: readonly string[], placement?: Bundle['placement']): Bundle {
  return {
    apiVersion: 'flotilla.io/v1',
    kind: 'Bundle',
    name: 'payments',
    version: '2.4.0',
    resources: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'api', namespace: 'pay' },
        spec: {
          template: {
            spec: {
              initContainers: images.slice(0, 1).map((image) => ({ name: 'init', image })),
              containers: images.slice(1).map((image, i) => ({ name: `c${i}`, image })),
            },
          },
        },
      },
    ],
    ...(placement === undefined ? {} : { placement }),
  };
}

export function signedRelease(images: readonly string[], signers = 1, placement?: Bundle['placement']): SignedBundle {
  return signBundle(makeBundle(images, placement), RELEASE_KEYS.slice(0, signers));
}

export const PINNED = `ghcr.io/acme/api@sha256:${'a'.repeat(64)}`;
export const PINNED_INIT = `ghcr.io/acme/migrate@sha256:${'b'.repeat(64)}`;

/** An attestation key pair made with node:crypto, with its public key as the verifier takes it. */
export interface TestSigner {
  readonly key: AttestationKey;
  readonly privateKey: KeyObject;
  sign(message: Uint8Array): Buffer;
}

export function ecdsaSigner(id: string): TestSigner {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    key: {
      id,
      algorithm: 'ecdsa-p256-sha256',
      publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    },
    privateKey,
    sign: (message) => sign('sha256', message, privateKey),
  };
}

export function ed25519Signer(id: string): TestSigner {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
  return {
    key: { id, algorithm: 'ed25519', publicKey: Buffer.from(raw).toString('base64url') },
    privateKey,
    sign: (message) => sign(null, message, privateKey),
  };
}

/** PAE written out by hand from the DSSE spec, independent of the code under test. */
export function pae(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);
}

export function statement(
  subjectHex: string,
  overrides: { builder?: string; repo?: string; commit?: string; predicateType?: string } = {},
): object {
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'payments-2.4.0.json', digest: { sha256: subjectHex } }],
    predicateType: overrides.predicateType ?? 'https://slsa.dev/provenance/v1',
    predicate: {
      buildDefinition: {
        buildType: 'https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1',
        externalParameters: {
          workflow: {
            ref: 'refs/heads/main',
            repository: `https://${overrides.repo ?? 'github.com/acme/payments'}`,
            path: '.github/workflows/release.yml',
          },
        },
        resolvedDependencies: [
          {
            uri: `git+https://${overrides.repo ?? 'github.com/acme/payments'}@refs/heads/main`,
            digest: { gitCommit: overrides.commit ?? 'c'.repeat(40) },
          },
        ],
      },
      runDetails: {
        builder: { id: overrides.builder ?? 'https://github.com/actions/runner/github-hosted' },
        metadata: { invocationId: 'run-1' },
      },
    },
  };
}

export function dsseEnvelope(
  payload: object | Buffer,
  signers: readonly TestSigner[],
  payloadType = 'application/vnd.in-toto+json',
) {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload));
  return {
    payload: body.toString('base64'),
    payloadType,
    signatures: signers.map((signer) => ({
      keyid: signer.key.id,
      sig: signer.sign(pae(payloadType, body)).toString('base64'),
    })),
  };
}

/** A Sigstore bundle v0.3 with a DSSE envelope, as `cosign attest --key --new-bundle-format` writes one offline. */
export function sigstoreBundle(payload: object, signer: TestSigner, payloadType = 'application/vnd.in-toto+json') {
  const body = Buffer.from(JSON.stringify(payload));
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: {
      publicKey: { hint: createHash('sha256').update(signer.key.publicKey).digest('base64') },
      tlogEntries: [],
    },
    dsseEnvelope: {
      payload: body.toString('base64'),
      payloadType,
      signatures: [{ sig: signer.sign(pae(payloadType, body)).toString('base64'), keyid: '' }],
    },
  };
}

export function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, '');
}
