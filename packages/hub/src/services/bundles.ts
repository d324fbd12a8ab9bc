import { FlotillaError, verifyBundle, type SignedBundle } from '@flotilla/protocol';
import type { HubStore } from '../store/hub-store.ts';
import type { AuditSink } from './audit-sink.ts';
import type { Clock } from './clock.ts';
import type { OperatorPrincipal } from './identity.ts';
import type { TrustService } from './trust.ts';

/**
 * Published releases: immutable and content addressed. The hub refuses a bundle that the
 * trust root's release keys did not sign, so what agents later check is checked here first.
 */
export class BundleService {
  private readonly store: HubStore;
  private readonly trust: TrustService;
  private readonly audit: AuditSink;
  private readonly clock: Clock;

  constructor(
    store: HubStore,
    trust: TrustService,
    audit: AuditSink,
    clock: Clock,
  ) {
    this.store = store;
    this.trust = trust;
    this.audit = audit;
    this.clock = clock;
  }

  publish(signed: SignedBundle, actor: OperatorPrincipal): { digest: string; created: boolean } {
    const { name, version } = signed.bundle;
    try {
      verifyBundle(signed, { name, version, digest: signed.digest }, this.trust.trustRoot);
    } catch (error) {
      // A release whose signatures or digest do not hold is a forgery or a broken build: recorded, then refused.
      if (error instanceof FlotillaError) {
        this.audit.append({ actor: { kind: 'user', id: actor.name }, action: 'bundle.publish', subjects: [], outcome: 'refused', reason: error.code, details: { name, version, digest: signed.digest, signers: signed.signatures.slice(0, 16).map((s) => s.keyId), message: error.message } });
      }
      throw error;
    }
    return this.store.transaction(() => {
      const existing = this.store.bundleByVersion(name, version);
      if (existing !== undefined) {
        if (existing.digest === signed.digest) return { digest: signed.digest, created: false };
        throw new FlotillaError('CONFLICT', `release ${name}@${version} is already published with digest ${existing.digest}; releases are immutable, publish a new version`);
      }
      this.store.insertBundle(signed, this.clock(), actor.name);
      this.audit.append({ actor: { kind: 'user', id: actor.name }, action: 'bundle.publish', subjects: [], outcome: 'success', details: { name, version, digest: signed.digest, resources: signed.bundle.resources.length, signers: signed.signatures.map((s) => s.keyId) } });
      return { digest: signed.digest, created: true };
    });
  }

  /** The stored JSON of a bundle, served byte for byte. */
  json(digest: string): string | undefined {
    return this.store.bundleJson(digest);
  }
}
