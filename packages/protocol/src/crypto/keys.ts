import { z } from 'zod';
import { createHash } from 'node:crypto';
import { canonicalize } from '../canonical-json.ts';
import { FlotillaError } from '../errors.ts';
import { fromBase64Url, toBase64Url } from './base64url.ts';
import { nodeBackend, strictVerify, strictVerifyInPool, type Ed25519Backend } from './ed25519.ts';
import { isWeakPoint } from './ed25519-checks.ts';

/** A public key on the wire: 32 raw bytes, base64url. */
export const PublicKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'an Ed25519 public key is 43 base64url characters');
export type PublicKey = z.infer<typeof PublicKey>;

/** A key pair as kept in a file of mode 0600; the seed is the private key. */
export const KeyPair = z.strictObject({
  kty: z.literal('ed25519'),
  publicKey: PublicKey,
  seed: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
});
export type KeyPair = z.infer<typeof KeyPair>;

export const Signature = z.strictObject({
  keyId: z.string().min(1).max(64),
  sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'an Ed25519 signature is 86 base64url characters'),
});
export type Signature = z.infer<typeof Signature>;

/**
 * What a signature is for. Each purpose prefixes the signed bytes, so a signature made for a
 * report can never be replayed as an envelope or a trust root (domain separation).
 */
export type SignaturePurpose =
  | 'envelope'
  | 'bundle'
  | 'report'
  | 'trust-root'
  | 'enroll'
  | 'audit-checkpoint'
  | 'key-rotation'
  | 'approval'
  | 'policy-set'
  | 'transfer-manifest'
  | 'reports-file'
  | 'offline-receipt';

/**
 * True when `publicKey` is 32 bytes of base64url encoding a point not of small order: the one
 * check every key passes before the hub binds it to a target or lists it in a trust root.
 */
export function isUsablePublicKey(publicKey: string): boolean {
  const raw = fromBase64Url(publicKey);
  return raw !== undefined && raw.length === 32 && !isWeakPoint(raw);
}

/** Throws `KEY_WEAK`, naming `what` the key was for, unless {@link isUsablePublicKey}. */
export function assertUsablePublicKey(publicKey: string, what: string): void {
  if (!isUsablePublicKey(publicKey)) {
    throw new FlotillaError(
      'KEY_WEAK',
      `the ${what} is not a usable Ed25519 key (wrong length, or a point of small order); generate a new key pair`,
    );
  }
}

/** A short stable name for a public key: the first 16 hex digits of its sha256. */
export function keyIdOf(publicKey: PublicKey): string {
  const raw = fromBase64Url(publicKey);
  if (raw === undefined) throw new FlotillaError('SIGNATURE_MALFORMED', 'the public key is not base64url');
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

export function generateKeyPair(backend: Ed25519Backend = nodeBackend): KeyPair {
  for (;;) {
    const { publicKey, seed } = backend.generate();
    // Vanishingly unlikely, but a weak key would be refused by every verifier.
    if (!isWeakPoint(publicKey)) return { kty: 'ed25519', publicKey: toBase64Url(publicKey), seed: toBase64Url(seed) };
  }
}

function signedBytes(purpose: SignaturePurpose, payload: unknown): Uint8Array {
  return signedText(purpose, canonicalize(payload));
}

function signedText(purpose: SignaturePurpose, canonical: string): Uint8Array {
  return new TextEncoder().encode(`flotilla.io/v1/${purpose}\n${canonical}`);
}

export function signPayload(
  purpose: SignaturePurpose,
  payload: unknown,
  key: KeyPair,
  backend: Ed25519Backend = nodeBackend,
): Signature {
  const seed = fromBase64Url(key.seed);
  if (seed === undefined || seed.length !== 32)
    throw new FlotillaError('SIGNATURE_MALFORMED', 'the private key seed is not 32 bytes of base64url');
  return { keyId: keyIdOf(key.publicKey), sig: toBase64Url(backend.sign(seed, signedBytes(purpose, payload))) };
}

/** True when `signature` is a strict Ed25519 signature by `publicKey` over `payload` for `purpose`. */
export function verifyPayload(
  purpose: SignaturePurpose,
  payload: unknown,
  signature: Signature,
  publicKey: PublicKey,
  backend: Ed25519Backend = nodeBackend,
): boolean {
  const pub = fromBase64Url(publicKey);
  const sig = fromBase64Url(signature.sig);
  if (pub === undefined || sig === undefined) return false;
  return strictVerify(pub, signedBytes(purpose, payload), sig, backend);
}

/**
 * {@link verifyPayload} for a payload already in canonical JSON (`canonicalize(payload)`), on the
 * calling thread: for a worker thread that has just made the canonical text to store it.
 */
export function verifyCanonical(
  purpose: SignaturePurpose,
  canonical: string,
  signature: Signature,
  publicKey: PublicKey,
  backend: Ed25519Backend = nodeBackend,
): boolean {
  const pub = fromBase64Url(publicKey);
  const sig = fromBase64Url(signature.sig);
  if (pub === undefined || sig === undefined) return false;
  return strictVerify(pub, signedText(purpose, canonical), sig, backend);
}

/**
 * {@link verifyPayload} for a payload already in canonical JSON (`canonicalize(payload)`, which
 * a caller storing the document has made anyway), verified on libuv's thread pool: the same
 * strict checks and the same answer, off the event loop. Node only.
 */
export function verifyCanonicalInPool(
  purpose: SignaturePurpose,
  canonical: string,
  signature: Signature,
  publicKey: PublicKey,
): Promise<boolean> {
  const pub = fromBase64Url(publicKey);
  const sig = fromBase64Url(signature.sig);
  if (pub === undefined || sig === undefined) return Promise.resolve(false);
  return strictVerifyInPool(pub, signedText(purpose, canonical), sig);
}

export interface TrustedKey {
  readonly id: string;
  readonly publicKey: PublicKey;
}

/**
 * How many distinct public keys among `trusted` made a valid signature over the payload.
 * Duplicate signatures, and several ids naming one public key, count once.
 */
export function countValidSigners(
  purpose: SignaturePurpose,
  payload: unknown,
  signatures: readonly Signature[],
  trusted: readonly TrustedKey[],
  backend: Ed25519Backend = nodeBackend,
): number {
  const signers = new Set<string>();
  for (const signature of signatures) {
    for (const key of trusted) {
      if (key.id !== signature.keyId || signers.has(key.publicKey)) continue;
      if (verifyPayload(purpose, payload, signature, key.publicKey, backend)) signers.add(key.publicKey);
    }
  }
  return signers.size;
}
