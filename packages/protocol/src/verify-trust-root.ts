import { countValidSigners, isUsablePublicKey } from './crypto/keys.ts';
import { FlotillaError } from './errors.ts';
import { assertUsableAttestationKeys } from './policy/attestation-keys.ts';
import { keysWithRole, type SignedTrustRoot, type TrustRoot } from './documents/trust-root.ts';

/**
 * Accepts a trust root. The first one an agent sees must be signed by a threshold of its own
 * root keys; a later one must be exactly the next version and be signed by a threshold of the
 * current root keys as well as its own, so a stolen hub key cannot mint a new root. Going one
 * version at a time (as TUF does) means no version's keys are skipped: a root key removed in v2
 * cannot, once stolen, sign a v3 that the agents of v1 would accept.
 */
export function verifyTrustRoot(next: SignedTrustRoot, current?: TrustRoot): TrustRoot {
  const root = next.trustRoot;
  const weak = root.keys.find((key) => !isUsablePublicKey(key.publicKey));
  if (weak !== undefined) {
    throw new FlotillaError(
      'TRUST_ROOT_INVALID',
      `trust root v${root.version} lists key ${weak.id}, which is not a usable Ed25519 key (a point of small order)`,
    );
  }
  assertUsableAttestationKeys(root.attestationKeys ?? [], root.version);
  const own = countValidSigners('trust-root', root, next.signatures, keysWithRole(root, 'root'));
  if (own < root.thresholds.root) {
    throw new FlotillaError(
      'TRUST_ROOT_INVALID',
      `trust root v${root.version} carries ${own} valid root signatures of its own keys; ${root.thresholds.root} are required`,
    );
  }
  if (current === undefined) return root;
  if (root.hubId !== current.hubId) {
    throw new FlotillaError(
      'TRUST_ROOT_INVALID',
      `trust root belongs to hub ${root.hubId}, but this agent trusts hub ${current.hubId}`,
    );
  }
  if (root.version <= current.version) {
    throw new FlotillaError(
      'TRUST_ROOT_INVALID',
      `trust root v${root.version} is not newer than the trusted v${current.version}`,
    );
  }
  if (root.version !== current.version + 1) {
    throw new FlotillaError(
      'TRUST_ROOT_INVALID',
      `trust root v${root.version} where v${current.version + 1} was due: versions are accepted one at a time`,
    );
  }
  const previous = countValidSigners('trust-root', root, next.signatures, keysWithRole(current, 'root'));
  if (previous < current.thresholds.root) {
    throw new FlotillaError(
      'TRUST_ROOT_INVALID',
      `trust root v${root.version} carries ${previous} valid signatures of the root keys of v${current.version}; ${current.thresholds.root} are required`,
    );
  }
  return root;
}
