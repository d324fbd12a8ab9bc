import { digestOf } from '../crypto/digest.ts';
import { countValidSigners, type TrustedKey } from '../crypto/keys.ts';
import type { SignedBundle } from '../documents/bundle.ts';
import { FlotillaError, isFlotillaError } from '../errors.ts';
import type { VerifyingKey } from './attestation-keys.ts';
import { bundleImages, type BundleImage } from './bundle-images.ts';
import type { ReleaseRequirements } from './check-requirements.ts';
import { verifyProvenance, type Attestation, type VerifiedProvenance } from './verify-provenance.ts';

/**
 * Everything the policy rules read of a release, checked once per plan: the same for every
 * target, so the cryptography runs once however large the fleet.
 */
export interface ReleaseFacts {
  readonly name: string;
  readonly version: string;
  readonly digest: string;
  readonly requirements?: ReleaseRequirements;
  readonly images: readonly BundleImage[];
  /** Distinct release keys with a valid signature over the bundle's digest. */
  readonly signers: number;
  readonly provenance: readonly VerifiedProvenance[];
  /** Why each attestation that did not verify was refused, for `explain`. */
  readonly refusedAttestations: readonly {
    readonly index: number;
    readonly reason: string;
    readonly message: string;
  }[];
}

export interface ReleaseTrust {
  /** Keys with the release role. */
  readonly releaseKeys: readonly TrustedKey[];
  /** Keys whose provenance counts (see `importAttestationKeys`). */
  readonly attestationKeys: readonly VerifyingKey[];
}

/**
 * Checks a signed bundle and its provenance attestations once, for evaluating policy over
 * many targets. An attestation that does not verify is kept out of `provenance` and listed
 * in `refusedAttestations`.
 *
 * @throws FlotillaError `BUNDLE_DIGEST_MISMATCH` when the bundle does not hash to its digest.
 */
export function inspectRelease(
  signed: SignedBundle,
  attestations: readonly Attestation[],
  trust: ReleaseTrust,
): ReleaseFacts {
  const digest = digestOf(signed.bundle);
  if (digest !== signed.digest) {
    throw new FlotillaError(
      'BUNDLE_DIGEST_MISMATCH',
      `bundle ${signed.bundle.name}@${signed.bundle.version} hashes to ${digest}, not to the digest ${signed.digest} it carries`,
    );
  }
  const provenance: VerifiedProvenance[] = [];
  const refusedAttestations: { index: number; reason: string; message: string }[] = [];
  attestations.forEach((attestation, index) => {
    try {
      provenance.push(verifyProvenance(attestation, digest, trust.attestationKeys));
    } catch (error) {
      if (!isFlotillaError(error)) throw error;
      const reason = error.details?.['reason'];
      refusedAttestations.push({
        index,
        reason: typeof reason === 'string' ? reason : error.code,
        message: error.message,
      });
    }
  });
  return {
    name: signed.bundle.name,
    version: signed.bundle.version,
    digest,
    ...(signed.bundle.placement === undefined ? {} : { requirements: signed.bundle.placement }),
    images: bundleImages(signed.bundle),
    signers: countValidSigners('bundle', { digest }, signed.signatures, trust.releaseKeys),
    provenance,
    refusedAttestations,
  };
}
