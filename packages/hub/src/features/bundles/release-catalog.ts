import { FlotillaError, type ReleaseRef, type SignedBundle } from '@flotilla/protocol';
import type { Attestation } from '@flotilla/protocol/policy';
import type { AttestationStore } from './attestation-store.ts';
import type { BundleStore } from './bundle-store.ts';

/**
 * Published releases read as they are: resolved by reference, as signed, with their
 * attestations. Apart from the bundle service so that the policy feature, whose verdicts a
 * publish answers with, can read releases without depending on the service that publishes them.
 */
export class ReleaseCatalog {
  private readonly store: BundleStore;
  private readonly attestations: AttestationStore;

  constructor(store: BundleStore, attestations: AttestationStore) {
    this.store = store;
    this.attestations = attestations;
  }

  /** The attestations stored with a release, as published. */
  attestationsOf(digest: string): Attestation[] {
    return this.attestations.of(digest).map((stored) => JSON.parse(stored.json) as Attestation);
  }

  /** A published bundle as signed, for what policy reads of it (images, signatures, requirements). */
  signed(digest: string): SignedBundle {
    const json = this.store.json(digest);
    if (json === undefined) throw new FlotillaError('NOT_FOUND', `no bundle with digest ${digest}`);
    return JSON.parse(json) as SignedBundle;
  }

  /** Resolves `name@version` or a digest to a published release. */
  resolveRelease(ref: string): ReleaseRef {
    if (ref.startsWith('sha256:')) {
      const found = this.store.release(ref);
      if (found === undefined) throw new FlotillaError('NOT_FOUND', `no bundle with digest ${ref} has been published`);
      return { name: found.name, version: found.version, digest: ref };
    }
    const at = ref.lastIndexOf('@');
    if (at <= 0)
      throw new FlotillaError(
        'VALIDATION_FAILED',
        `release reference '${ref}' is neither name@version nor a sha256: digest`,
      );
    const name = ref.slice(0, at);
    const version = ref.slice(at + 1);
    const digest = this.store.digestOf(name, version);
    if (digest === undefined)
      throw new FlotillaError(
        'NOT_FOUND',
        `release ${ref} has not been published; publish it with 'flotilla release publish'`,
      );
    return { name, version, digest };
  }
}
