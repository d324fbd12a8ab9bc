import { z } from 'zod';
import { FlotillaError } from '../errors.ts';
import type { VerifyingKey } from './attestation-keys.ts';

/**
 * DSSE, the Dead Simple Signing Envelope (secure-systems-lab/dsse, protocol v1.0.0): the
 * signature covers the payload type and the payload through the pre-authentication encoding,
 * so neither can be swapped without breaking it.
 */

/** The payload type of an in-toto statement (in-toto attestation spec v1, envelope layer). */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

const MAX_PAYLOAD_CHARS = 4 * 1024 * 1024;

/** The JSON envelope. `keyid` is an unauthenticated hint and never decides anything. */
export const DsseEnvelope = z.strictObject({
  payload: z.string().max(MAX_PAYLOAD_CHARS),
  payloadType: z.string().max(256),
  signatures: z
    .array(z.strictObject({ keyid: z.string().max(256).optional(), sig: z.string().min(1).max(2048) }))
    .min(1)
    .max(16),
});
export type DsseEnvelope = z.infer<typeof DsseEnvelope>;

/**
 * PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, where LEN is the
 * byte length in ASCII decimal without leading zeros and type is UTF-8.
 *
 * @example new TextDecoder().decode(preAuthEncoding('http://example.com/HelloWorld', bytes('hello world'))) === 'DSSEv1 29 http://example.com/HelloWorld 11 hello world'
 */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = new TextEncoder().encode(payloadType);
  const head = new TextEncoder().encode(`DSSEv1 ${type.length} `);
  const middle = new TextEncoder().encode(` ${payload.length} `);
  const out = new Uint8Array(head.length + type.length + middle.length + payload.length);
  out.set(head, 0);
  out.set(type, head.length);
  out.set(middle, head.length + type.length);
  out.set(payload, head.length + type.length + middle.length);
  return out;
}

/**
 * Decodes base64 in either alphabet (DSSE verifiers must accept both), padded or not.
 * Returns undefined for anything else, including encodings whose unused bits are not zero,
 * so that one byte string has one accepted spelling per alphabet.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (!/^([A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/.test(text)) return undefined;
  const bare = text.replace(/=+$/, '');
  if (bare.length % 4 === 1 || (text.length !== bare.length && text.length % 4 !== 0)) return undefined;
  const bytes = Buffer.from(bare.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== bare.replace(/-/g, '+').replace(/_/g, '/')) return undefined;
  return new Uint8Array(bytes);
}

/** A DSSE envelope whose signatures were checked. */
export interface VerifiedDsse {
  readonly payloadType: string;
  readonly payload: Uint8Array;
  /** Ids of the keys that signed, one per distinct public key. */
  readonly signers: readonly string[];
}

function refuse(reason: string, message: string): FlotillaError {
  return new FlotillaError('ATTESTATION_INVALID', message, { reason });
}

/**
 * Verifies a DSSE envelope against keys, as the DSSE protocol's multi-signature verification
 * does: each signature is tried against every key (the keyid hint is ignored), and a key
 * counts once however many signatures it made, however many ids name it. Then the payload
 * type must be one of `payloadTypes`.
 *
 * @throws FlotillaError `ATTESTATION_INVALID` with `details.reason`: `encoding`, `signature` (no key
 *   verified any signature) or `payload-type`.
 */
export function verifyDsse(
  envelope: DsseEnvelope,
  keys: readonly VerifyingKey[],
  payloadTypes: readonly string[],
): VerifiedDsse {
  const payload = decodeBase64(envelope.payload);
  if (payload === undefined) throw refuse('encoding', 'the DSSE payload is not base64');
  const pae = preAuthEncoding(envelope.payloadType, payload);
  const identities = new Set<string>();
  const signers: string[] = [];
  for (const signature of envelope.signatures) {
    const sig = decodeBase64(signature.sig);
    if (sig === undefined) throw refuse('encoding', 'a DSSE signature is not base64');
    for (const key of keys) {
      if (identities.has(key.identity) || !key.verify(pae, sig)) continue;
      identities.add(key.identity);
      signers.push(key.id);
    }
  }
  if (signers.length === 0)
    throw refuse(
      'signature',
      `no signature of the DSSE envelope verifies against the ${keys.length} attestation keys given`,
    );
  if (!payloadTypes.includes(envelope.payloadType))
    throw refuse(
      'payload-type',
      `the DSSE payload type is '${envelope.payloadType}'; expected ${payloadTypes.join(' or ')}`,
    );
  return { payloadType: envelope.payloadType, payload, signers };
}
