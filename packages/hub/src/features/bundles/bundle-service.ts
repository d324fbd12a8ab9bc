import { FlotillaError, verifyBundle, type ReleaseRef, type SignedBundle, type TrustRoot } from '@flotilla/protocol';
import type { PublishResult, ReleaseList } from '@flotilla/protocol/api';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { AgentPrincipal, OperatorPrincipal } from '../../principal.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { BundleStore } from './bundle-store.ts';

/** The trust root in force, whose release keys must have signed every bundle (the identity feature). */
export interface ReleaseKeys {
  readonly trustRoot: TrustRoot;
}

/** The bundles a target's current envelope names: the only ones its agent may fetch (the targets feature's cache). */
export interface EnvelopeDigests {
  get(targetId: string): { readonly digests: ReadonlySet<string> } | undefined;
}

export interface BundleServiceDeps {
  readonly tx: Transactions;
  readonly store: BundleStore;
  readonly keys: ReleaseKeys;
  readonly envelopes: EnvelopeDigests;
  readonly audit: AuditSink;
  readonly clock: Clock;
}

/**
 * Published releases: immutable and content addressed. The hub refuses a bundle that the
 * trust root's release keys did not sign, so what agents later check is checked here first.
 */
export class BundleService {
  private readonly deps: BundleServiceDeps;
  /** Bundles are immutable, so their sizes never change; envelopes ask for them on every signing. */
  private readonly sizes = new Map<string, number>();

  constructor(deps: BundleServiceDeps) {
    this.deps = deps;
  }

  publish(signed: SignedBundle, actor: OperatorPrincipal): PublishResult {
    const { tx, store, audit, clock } = this.deps;
    const { name, version } = signed.bundle;
    try {
      verifyBundle(signed, { name, version, digest: signed.digest }, this.deps.keys.trustRoot);
    } catch (error) {
      // A release whose signatures or digest do not hold is a forgery or a broken build: recorded, then refused.
      if (error instanceof FlotillaError) {
        audit.append({
          actor: { kind: 'user', id: actor.name },
          action: 'bundle.publish',
          subjects: [],
          outcome: 'refused',
          reason: error.code,
          details: {
            name,
            version,
            digest: signed.digest,
            signers: signed.signatures.slice(0, 16).map((s) => s.keyId),
            message: error.message,
          },
        });
      }
      throw error;
    }
    return tx.run(() => {
      const existing = store.digestOf(name, version);
      if (existing !== undefined) {
        if (existing === signed.digest) return { digest: signed.digest, created: false };
        throw new FlotillaError(
          'CONFLICT',
          `release ${name}@${version} is already published with digest ${existing}; releases are immutable, publish a new version`,
        );
      }
      store.insert(signed, clock(), actor.name);
      audit.append({
        actor: { kind: 'user', id: actor.name },
        action: 'bundle.publish',
        subjects: [],
        outcome: 'success',
        details: {
          name,
          version,
          digest: signed.digest,
          resources: signed.bundle.resources.length,
          signers: signed.signatures.map((s) => s.keyId),
        },
      });
      return { digest: signed.digest, created: true };
    });
  }

  /**
   * The stored JSON of a bundle, served byte for byte. An agent may fetch only the bundles its
   * target's current envelope names; an operator, any.
   */
  json(digest: string, principal: AgentPrincipal | OperatorPrincipal): string {
    if (principal.kind === 'agent' && this.deps.envelopes.get(principal.targetId)?.digests.has(digest) !== true) {
      throw new FlotillaError(
        'FORBIDDEN',
        `bundle ${digest} is not in the desired state of target ${principal.targetId}`,
      );
    }
    const json = this.deps.store.json(digest);
    if (json === undefined) throw new FlotillaError('NOT_FOUND', `no bundle with digest ${digest}`);
    return json;
  }

  /** The bytes `GET /v1/bundles/{digest}` answers, which envelopes name so agents stop longer downloads. */
  sizeOf(digest: string): number {
    let size = this.sizes.get(digest);
    if (size === undefined) {
      size = this.deps.store.size(digest);
      if (size === undefined) throw new FlotillaError('NOT_FOUND', `no bundle with digest ${digest}`);
      this.sizes.set(digest, size);
    }
    return size;
  }

  /** A published bundle as signed, for what policy reads of it (images, signatures, requirements). */
  signed(digest: string): SignedBundle {
    const json = this.deps.store.json(digest);
    if (json === undefined) throw new FlotillaError('NOT_FOUND', `no bundle with digest ${digest}`);
    return JSON.parse(json) as SignedBundle;
  }

  list(): ReleaseList {
    return { items: this.deps.store.list().map((r) => ({ ...r, createdAt: new Date(r.createdAt).toISOString() })) };
  }

  /** Resolves `name@version` or a digest to a published release. */
  resolveRelease(ref: string): ReleaseRef {
    const { store } = this.deps;
    if (ref.startsWith('sha256:')) {
      const found = store.release(ref);
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
    const digest = store.digestOf(name, version);
    if (digest === undefined)
      throw new FlotillaError(
        'NOT_FOUND',
        `release ${ref} has not been published; publish it with 'flotilla release publish'`,
      );
    return { name, version, digest };
  }
}
