import { z } from 'zod';
import type { VerifyingKey } from './attestation-keys.ts';
import { DsseEnvelope, IN_TOTO_PAYLOAD_TYPE, verifyDsse, type VerifiedDsse } from './dsse.ts';
import { readProvenance, type ProvenanceFacts } from './provenance.ts';
import { verifySigstoreBundle } from './sigstore-bundle.ts';

/** The payload types an in-toto statement may travel under (in-toto envelope layer v1). */
export const PROVENANCE_PAYLOAD_TYPES: readonly string[] = [
  IN_TOTO_PAYLOAD_TYPE,
  'application/vnd.in-toto.provenance+json',
];

/**
 * A provenance attestation of a release, as CI produced it: a bare DSSE envelope (what
 * `cosign attest` and SLSA builders write) or a Sigstore bundle holding one.
 */
export const Attestation = z.discriminatedUnion('format', [
  z.strictObject({ format: z.literal('dsse'), envelope: DsseEnvelope }),
  z.strictObject({ format: z.literal('sigstore-bundle'), bundle: z.record(z.string(), z.unknown()) }),
]);
export type Attestation = z.infer<typeof Attestation>;

/** Provenance whose signature and subject were checked. */
export interface VerifiedProvenance extends ProvenanceFacts {
  readonly format: Attestation['format'];
  /** Ids of the attestation keys that signed it, one per distinct key. */
  readonly signers: readonly string[];
}

/**
 * Verifies a provenance attestation of the release with digest `releaseDigest`: the
 * signature against `keys`, the payload type, then the statement (its subject must be the
 * release) and the SLSA predicate.
 *
 * @throws FlotillaError `ATTESTATION_INVALID` with `details.reason` naming the failed check.
 */
export function verifyProvenance(
  attestation: Attestation,
  releaseDigest: string,
  keys: readonly VerifyingKey[],
): VerifiedProvenance {
  const verified: VerifiedDsse =
    attestation.format === 'dsse'
      ? verifyDsse(attestation.envelope, keys, PROVENANCE_PAYLOAD_TYPES)
      : verifySigstoreBundle(attestation.bundle, keys, PROVENANCE_PAYLOAD_TYPES);
  return { format: attestation.format, signers: verified.signers, ...readProvenance(verified.payload, releaseDigest) };
}
