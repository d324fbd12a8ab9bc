import { digestOf } from './crypto/digest.ts';
import { countValidSigners } from './crypto/keys.ts';
import { FlotillaError } from './errors.ts';
import type { SignedBundle } from './documents/bundle.ts';
import type { ReleaseRef } from './documents/common.ts';
import { keysWithRole, type TrustRoot } from './documents/trust-root.ts';

/**
 * Checks that a bundle is the one an envelope names (its content hashes to the digest) and
 * that a threshold of distinct release keys signed that digest.
 */
export function verifyBundle(signed: SignedBundle, expected: ReleaseRef, trustRoot: TrustRoot): void {
  const actual = digestOf(signed.bundle);
  if (actual !== expected.digest || signed.digest !== expected.digest) {
    throw new FlotillaError(
      'BUNDLE_DIGEST_MISMATCH',
      `bundle ${expected.name}@${expected.version} hashes to ${actual}, but the envelope names ${expected.digest}`,
      { expected: expected.digest, actual },
    );
  }
  if (signed.bundle.name !== expected.name || signed.bundle.version !== expected.version) {
    throw new FlotillaError(
      'BUNDLE_DIGEST_MISMATCH',
      `bundle ${expected.digest} is ${signed.bundle.name}@${signed.bundle.version}, but the envelope calls it ${expected.name}@${expected.version}`,
    );
  }
  const signers = countValidSigners(
    'bundle',
    { digest: actual },
    signed.signatures,
    keysWithRole(trustRoot, 'release'),
  );
  if (signers < trustRoot.thresholds.release) {
    throw new FlotillaError(
      'BUNDLE_SIGNATURE_THRESHOLD',
      `bundle ${expected.name}@${expected.version} carries ${signers} valid release signatures; the trust root requires ${trustRoot.thresholds.release}`,
      { signers, required: trustRoot.thresholds.release },
    );
  }
}
