import {
  BUNDLE_MAX_BYTES,
  digestOf,
  FlotillaError,
  verifyBundle,
  type ReleaseRef,
  type SignedBundle,
  type TrustRoot,
} from '@flotilla/protocol';
import type {
  PublishRelease,
  PublishResult,
  ReleaseDetails,
  ReleaseList,
  ReleasePolicyVerdict,
} from '@flotilla/protocol/api';
import { Attestation, importAttestationKeys, verifyProvenance } from '@flotilla/protocol/policy';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { AgentPrincipal, OperatorPrincipal } from '../../principal.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { AttestationStore, StoredAttestation } from './attestation-store.ts';
import type { BundleStore } from './bundle-store.ts';
import { RecentBundles } from './recent-bundles.ts';
import type { ReleaseCatalog } from './release-catalog.ts';

/** The trust root in force, whose release keys must have signed every bundle (the identity feature). */
export interface ReleaseKeys {
  readonly trustRoot: TrustRoot;
}

/** The bundles a target's current envelope names: the only ones its agent may fetch (the targets feature's cache). */
export interface EnvelopeDigests {
  get(targetId: string): { readonly digests: ReadonlySet<string> } | undefined;
}

/** How the live policies' artifact rules judge a release (the policy feature). */
export interface ReleaseVerdicts {
  verdicts(release: ReleaseRef): ReleasePolicyVerdict[];
}

export interface BundleServiceDeps {
  readonly tx: Transactions;
  readonly store: BundleStore;
  readonly attestations: AttestationStore;
  readonly catalog: ReleaseCatalog;
  /** The live policies' verdicts, answered with every publish (the policy feature). */
  readonly verdicts: ReleaseVerdicts;
  readonly keys: ReleaseKeys;
  readonly envelopes: EnvelopeDigests;
  readonly audit: AuditSink;
  readonly clock: Clock;
}

/** How much bundle JSON the hub keeps in memory for serving: two of the largest bundles it takes. */
const RECENT_BUNDLES_CHARS = 2 * BUNDLE_MAX_BYTES;

/**
 * Published releases: immutable and content addressed. The hub refuses a bundle that the
 * trust root's release keys did not sign, so what agents later check is checked here first.
 */
export class BundleService {
  private readonly deps: BundleServiceDeps;
  /** Bundles are immutable, so their sizes never change; envelopes ask for them on every signing. */
  private readonly sizes = new Map<string, number>();
  /** What a rollout's agents fetch, each for itself, within seconds. */
  private readonly recent = new RecentBundles(RECENT_BUNDLES_CHARS);

  constructor(deps: BundleServiceDeps) {
    this.deps = deps;
  }

  /**
   * Publishes a release with its provenance attestations, or adds attestations to a release
   * published before. Every attestation must verify against the trust root's attestation keys
   * and name the release as its subject, or nothing is stored. The live policies' verdicts on
   * the published release are answered and audited, as warnings (docs/policy.md).
   */
  publish(request: PublishRelease, actor: OperatorPrincipal): PublishResult {
    const { tx, store, audit, clock } = this.deps;
    const { attestations: raw = [], ...signed } = request;
    const { name, version } = signed.bundle;
    let attestations: StoredAttestation[];
    try {
      verifyBundle(signed, { name, version, digest: signed.digest }, this.deps.keys.trustRoot);
      attestations = this.verifyAttestations(signed.digest, raw, actor.name);
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
    const result = tx.run((): PublishResult => {
      const existing = store.digestOf(name, version);
      if (existing !== undefined && existing !== signed.digest)
        throw new FlotillaError(
          'CONFLICT',
          `release ${name}@${version} is already published with digest ${existing}; releases are immutable, publish a new version`,
        );
      if (existing === undefined) {
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
      }
      const added = attestations.filter((attestation) => this.deps.attestations.insert(attestation));
      if (added.length > 0)
        audit.append({
          actor: { kind: 'user', id: actor.name },
          action: 'bundle.attest',
          subjects: [],
          outcome: 'success',
          details: {
            name,
            version,
            digest: signed.digest,
            attestations: added.map((a) => ({
              digest: a.digest,
              format: a.format,
              signers: a.signers,
              builder: a.builder,
            })),
          },
        });
      const stored = attestations.map((a) => a.digest);
      return {
        digest: signed.digest,
        created: existing === undefined,
        ...(stored.length === 0 ? {} : { attestations: stored }),
      };
    });
    const policies = this.deps.verdicts.verdicts({ name, version, digest: signed.digest });
    if (policies.length === 0) return result;
    const refusing = policies.filter((verdict) => !verdict.allowed);
    tx.run(() =>
      audit.append({
        actor: { kind: 'user', id: actor.name },
        action: 'bundle.policy-verdict',
        subjects: [],
        outcome: refusing.length === 0 ? 'success' : 'refused',
        ...(refusing.length === 0 ? {} : { reason: refusing[0]!.reasons[0]?.rule ?? 'artifacts' }),
        details: { name, version, digest: signed.digest, policies },
      }),
    );
    return { ...result, policies };
  }

  /** Each attestation read strictly and verified for the release, or the publish is refused. */
  private verifyAttestations(releaseDigest: string, raw: readonly unknown[], addedBy: string): StoredAttestation[] {
    if (raw.length === 0) return [];
    const root = this.deps.keys.trustRoot;
    const keys = importAttestationKeys(root.attestationKeys ?? []);
    const addedAt = this.deps.clock();
    return raw.map((value, index) => {
      const parsed = Attestation.safeParse(value);
      if (!parsed.success)
        throw new FlotillaError(
          'VALIDATION_FAILED',
          `attestation ${index + 1} is neither a DSSE envelope nor a Sigstore bundle: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
        );
      if (keys.length === 0)
        throw new FlotillaError(
          'ATTESTATION_INVALID',
          `trust root v${root.version} lists no attestation key to verify attestation ${index + 1} with; add the builder's key with \`flotilla keys register-attestation\``,
          { reason: 'signature' },
        );
      let verified;
      try {
        verified = verifyProvenance(parsed.data, releaseDigest, keys);
      } catch (error) {
        if (error instanceof FlotillaError)
          throw new FlotillaError('ATTESTATION_INVALID', `attestation ${index + 1}: ${error.message}`, error.details);
        throw error;
      }
      return {
        releaseDigest,
        digest: digestOf(parsed.data),
        format: parsed.data.format,
        json: JSON.stringify(parsed.data),
        signers: verified.signers,
        builder: verified.builderId,
        sources: verified.sources,
        addedAt,
        addedBy,
      };
    });
  }

  /** The attestations stored with a release, as published. */
  attestationsOf(digest: string): Attestation[] {
    return this.deps.catalog.attestationsOf(digest);
  }

  /** A release with its attestations and the live policies' verdicts on it (`flotilla release show`). */
  details(digest: string): ReleaseDetails {
    const record = this.deps.store.record(digest);
    if (record === undefined) throw new FlotillaError('NOT_FOUND', `no bundle with digest ${digest}`);
    return {
      digest,
      name: record.name,
      version: record.version,
      createdAt: new Date(record.createdAt).toISOString(),
      createdBy: record.createdBy,
      attestations: this.deps.attestations.of(digest).map((a) => ({
        digest: a.digest,
        format: a.format,
        signers: [...a.signers],
        builder: a.builder,
        sources: a.sources.map((source) => ({ ...source })),
        addedAt: new Date(a.addedAt).toISOString(),
        addedBy: a.addedBy,
      })),
      policies: this.deps.verdicts.verdicts({ name: record.name, version: record.version, digest }),
    };
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
    const json = this.recent.get(digest, () => this.deps.store.json(digest));
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
    return this.deps.catalog.signed(digest);
  }

  list(): ReleaseList {
    return { items: this.deps.store.list().map((r) => ({ ...r, createdAt: new Date(r.createdAt).toISOString() })) };
  }

  /** Resolves `name@version` or a digest to a published release. */
  resolveRelease(ref: string): ReleaseRef {
    return this.deps.catalog.resolveRelease(ref);
  }
}
