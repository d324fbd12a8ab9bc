import { assertUsablePublicKey, keyIdOf } from './crypto/keys.ts';
import { assertUsableAttestationKeys } from './policy/attestation-keys.ts';
import {
  keysWithRole,
  type AttestationKey,
  type KeyRole,
  type TrustRoot,
  type TrustRootKey,
} from './documents/trust-root.ts';
import { FlotillaError } from './errors.ts';

/** What an operator changes in a new trust root version (`flotilla root draft`). */
export interface TrustRootChange {
  readonly addKeys?: readonly {
    readonly publicKey: string;
    readonly roles: readonly KeyRole[];
    readonly name?: string;
  }[];
  /** Keys that verify provenance attestations (see `attestationKeyOf`). */
  readonly addAttestationKeys?: readonly AttestationKey[];
  /** Key ids to take out of the trust root altogether, attestation keys included. */
  readonly removeKeyIds?: readonly string[];
  readonly thresholds?: { readonly root?: number; readonly release?: number; readonly policy?: number };
  /** Whether agents require signed policy sets from now on. */
  readonly requirePolicySets?: boolean;
}

/**
 * The version after `current` with `change` made: every added key checked as strictly as an
 * enrolling one, a key added again gaining the new roles. The result must still be usable: a
 * hub key and a root key left, and each threshold no more than the keys that can meet it.
 */
export function nextTrustRoot(current: TrustRoot, change: TrustRootChange, issuedAt: string): TrustRoot {
  const removed = new Set(change.removeKeyIds ?? []);
  for (const id of removed) {
    if (!current.keys.some((k) => k.id === id) && !(current.attestationKeys ?? []).some((k) => k.id === id))
      throw new FlotillaError('VALIDATION_FAILED', `trust root v${current.version} has no key ${id} to remove`);
  }
  let keys: TrustRootKey[] = current.keys.filter((k) => !removed.has(k.id));
  for (const added of change.addKeys ?? []) {
    assertUsablePublicKey(added.publicKey, `${added.roles.join(' and ')} key`);
    const existing = keys.find((k) => k.publicKey === added.publicKey);
    keys =
      existing === undefined
        ? [
            ...keys,
            {
              id: keyIdOf(added.publicKey),
              publicKey: added.publicKey,
              roles: [...added.roles],
              ...(added.name === undefined ? {} : { name: added.name }),
            },
          ]
        : keys.map((k) => (k === existing ? { ...k, roles: [...new Set([...k.roles, ...added.roles])] } : k));
  }
  const attestationKeys = (current.attestationKeys ?? []).filter((k) => !removed.has(k.id));
  for (const added of change.addAttestationKeys ?? []) {
    if (!attestationKeys.some((k) => k.id === added.id)) attestationKeys.push(added);
  }
  const { attestationKeys: _previous, ...rest } = current;
  const next: TrustRoot = {
    ...rest,
    ...(attestationKeys.length === 0 ? {} : { attestationKeys }),
    version: current.version + 1,
    keys,
    thresholds: { ...current.thresholds, ...change.thresholds },
    ...(change.requirePolicySets === undefined ? {} : { requirePolicySets: change.requirePolicySets }),
    issuedAt,
  };
  assertUsableTrustRoot(next);
  return next;
}

/** Throws unless agents could work under `root`: a hub key, and thresholds its keys can meet. */
export function assertUsableTrustRoot(root: TrustRoot): void {
  try {
    assertUsableAttestationKeys(root.attestationKeys ?? [], root.version);
  } catch (error) {
    throw new FlotillaError('VALIDATION_FAILED', (error as FlotillaError).message);
  }
  if (keysWithRole(root, 'hub').length === 0)
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `trust root v${root.version} lists no hub key: no envelope would verify`,
    );
  if (root.requirePolicySets === true && keysWithRole(root, 'policy').length === 0)
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `trust root v${root.version} requires signed policy sets but lists no policy key to sign them`,
    );
  const policyKeys = keysWithRole(root, 'policy').length;
  if (root.thresholds.policy !== undefined && policyKeys > 0 && root.thresholds.policy > policyKeys)
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `trust root v${root.version} needs ${root.thresholds.policy} policy signatures but lists ${policyKeys} policy keys`,
    );
  for (const role of ['root', 'release'] as const) {
    const available = keysWithRole(root, role).length;
    const needed = root.thresholds[role];
    // A release threshold with no release key yet is the state of a new hub; it is met once one is added.
    if (needed > available && (role === 'root' || available > 0))
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `trust root v${root.version} needs ${needed} ${role} signatures but lists ${available} ${role} keys`,
      );
  }
}
