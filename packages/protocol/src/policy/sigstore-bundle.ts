import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { toSignedEntity, Verifier, type TrustMaterial } from '@sigstore/verify';
import { FlotillaError } from '../errors.ts';
import type { VerifyingKey } from './attestation-keys.ts';
import type { VerifiedDsse } from './dsse.ts';

/**
 * Sigstore bundles verified offline against keys of the trust root, with sigstore-js
 * (`@sigstore/bundle` reads and checks the bundle, `@sigstore/verify` checks the signature).
 *
 * Only key-based bundles are accepted: a keyless bundle's certificate chains to Fulcio and
 * its proofs to Rekor, whose roots an air-gapped site does not hold. Transparency-log entries
 * and timestamps in a bundle are not checked and not required: trust comes from the key alone,
 * as with a bare DSSE envelope.
 */

const NO_AUTHORITIES: Omit<TrustMaterial, 'publicKey'> = {
  certificateAuthorities: [],
  timestampAuthorities: [],
  tlogs: [],
  ctlogs: [],
};

function refuse(reason: string, message: string): FlotillaError {
  return new FlotillaError('ATTESTATION_INVALID', message, { reason });
}

function readBundle(json: unknown): Bundle {
  try {
    return bundleFromJSON(json);
  } catch (error) {
    throw refuse('encoding', `not a Sigstore bundle: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Verifies a Sigstore bundle whose content is a DSSE envelope and returns the envelope's
 * payload, as {@link verifyDsse} does for a bare envelope.
 *
 * @throws FlotillaError `ATTESTATION_INVALID` with `details.reason`: `encoding`, `keyless`,
 *   `content` (a message signature, which carries no statement), `signature` or `payload-type`.
 */
export function verifySigstoreBundle(
  json: unknown,
  keys: readonly VerifyingKey[],
  payloadTypes: readonly string[],
): VerifiedDsse {
  const bundle = readBundle(json);
  if (bundle.verificationMaterial.content.$case !== 'publicKey') {
    throw refuse(
      'keyless',
      'the Sigstore bundle is keyless (a Fulcio certificate); Flotilla verifies bundles signed with a key of its trust root, offline',
    );
  }
  if (bundle.content.$case !== 'dsseEnvelope') {
    throw refuse(
      'content',
      'the Sigstore bundle holds a message signature, not a DSSE envelope with a provenance statement',
    );
  }
  const envelope = bundle.content.dsseEnvelope;
  const offline: Bundle = {
    ...bundle,
    verificationMaterial: { ...bundle.verificationMaterial, tlogEntries: [], timestampVerificationData: undefined },
  };
  const entity = toSignedEntity(offline);
  const signature = envelope.signatures[0]?.sig ?? Buffer.alloc(0);
  const signers: string[] = [];
  for (const key of keys) {
    if (!key.wellFormed(signature)) continue;
    const verifier = new Verifier(
      { ...NO_AUTHORITIES, publicKey: () => ({ publicKey: key.keyObject, validFor: () => true }) },
      { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
    );
    try {
      verifier.verify(entity);
      signers.push(key.id);
      break;
    } catch {
      // Not this key; try the next.
    }
  }
  if (signers.length === 0)
    throw refuse(
      'signature',
      `the Sigstore bundle's signature verifies against none of the ${keys.length} attestation keys given`,
    );
  if (!payloadTypes.includes(envelope.payloadType))
    throw refuse(
      'payload-type',
      `the DSSE payload type is '${envelope.payloadType}'; expected ${payloadTypes.join(' or ')}`,
    );
  return { payloadType: envelope.payloadType, payload: new Uint8Array(envelope.payload), signers };
}
