import { randomBytes } from 'node:crypto';
import {
  API_VERSION,
  assertUsablePublicKey,
  assertUsableTrustRoot,
  canonicalize,
  verifyTrustRoot,
  keyIdOf,
  nextTrustRoot,
  signPayload,
  FlotillaError,
  type Actor,
  type KeyPair,
  type SignedTrustRoot,
  type TrustRoot,
  type TrustRootKey,
} from '@flotilla/protocol';
import { attestationKeyOf } from '@flotilla/protocol/policy';
import type { AuditInput, AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import { isUniqueViolation } from '../../store/sql.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { TrustStore } from './trust-store.ts';

export interface HubKeys {
  /** Signs envelopes, access tokens and audit checkpoints. */
  readonly hub: KeyPair;
  /**
   * Signs new trust root versions. Kept beside the hub for a single-machine setup; absent when
   * the root keys are offline, and trust roots are signed elsewhere and published
   * (`flotilla root sign`, `flotilla root publish`).
   */
  readonly root?: KeyPair | undefined;
}

export interface TrustServiceDeps {
  readonly tx: Transactions;
  readonly store: TrustStore;
  readonly keys: HubKeys;
  readonly audit: AuditSink;
  readonly clock: Clock;
}

/**
 * The hub's identity and the trust root agents pin: which keys sign envelopes, releases and
 * new trust roots. Created once, on first start; every change is a new, root-signed version.
 */
export class TrustService {
  readonly hubId: string;
  readonly audience: string;
  readonly hubKeyId: string;
  private current: SignedTrustRoot;
  private readonly deps: TrustServiceDeps;

  constructor(deps: TrustServiceDeps) {
    this.deps = deps;
    const { store, keys, clock } = deps;
    // Replicas starting together on a new database each propose an id: the first one stored is every replica's.
    const hubId = store.hubId() ?? store.claimHubId(`hub_${randomBytes(8).toString('hex')}`);
    this.hubId = hubId;
    this.audience = `urn:flotilla:hub:${hubId}`;
    this.hubKeyId = keyIdOf(keys.hub.publicKey);
    const latest = store.latest();
    if (latest === undefined) {
      if (keys.root === undefined)
        throw new FlotillaError(
          'CONFIG_INVALID',
          'a new hub needs its root key (keys/root.json) on its first start, to sign trust root v1',
        );
      const first = this.sign({
        apiVersion: API_VERSION,
        kind: 'TrustRoot',
        hubId,
        version: 1,
        keys: [
          { id: keyIdOf(keys.root.publicKey), publicKey: keys.root.publicKey, roles: ['root'], name: 'root' },
          { id: this.hubKeyId, publicKey: keys.hub.publicKey, roles: ['hub'], name: 'hub' },
        ],
        thresholds: { root: 1, release: 1 },
        issuedAt: new Date(clock()).toISOString(),
      });
      // So with v1: a replica that started at the same time and stored its own first keeps it, for all.
      this.current = store.insertFirst(first) ? first : store.latest()!;
    } else {
      this.current = latest;
      if (!latest.trustRoot.keys.some((k) => k.id === this.hubKeyId && k.roles.includes('hub'))) {
        throw new FlotillaError(
          'CONFIG_INVALID',
          `the hub key ${this.hubKeyId} is not a hub key of trust root v${latest.trustRoot.version}; restore the hub key file of this data directory`,
        );
      }
    }
  }

  /** Reads the newest trust root again: another replica published one (replicas/replica-caches.ts). */
  reload(): void {
    this.current = this.deps.store.latest() ?? this.current;
  }

  get signed(): SignedTrustRoot {
    return this.current;
  }

  get trustRoot(): TrustRoot {
    return this.current.trustRoot;
  }

  version(version: number): SignedTrustRoot | undefined {
    return this.deps.store.version(version);
  }

  /**
   * Adds a release key as a new trust root version, audited in the same transaction as
   * `trust-root.add-release-key`; adding a key already there changes nothing.
   */
  addReleaseKey(publicKey: string, name: string | undefined, actor: Actor): SignedTrustRoot {
    const { clock } = this.deps;
    assertUsablePublicKey(publicKey, 'release key');
    const id = keyIdOf(publicKey);
    const existing = this.trustRoot.keys.find((k) => k.publicKey === publicKey);
    if (existing?.roles.includes('release')) return this.current;
    const keys: TrustRootKey[] =
      existing === undefined
        ? [...this.trustRoot.keys, { id, publicKey, roles: ['release'], ...(name === undefined ? {} : { name }) }]
        : this.trustRoot.keys.map((k) => (k.publicKey === publicKey ? { ...k, roles: [...k.roles, 'release'] } : k));
    const next = this.sign({
      ...this.trustRoot,
      version: this.trustRoot.version + 1,
      keys,
      issuedAt: new Date(clock()).toISOString(),
    });
    if (this.trustRoot.thresholds.root > 1)
      throw new FlotillaError(
        'ROOT_KEY_OFFLINE',
        `trust root v${this.trustRoot.version} needs ${this.trustRoot.thresholds.root} root signatures for a new version, more than this hub's one root key: add the key with \`flotilla root draft --add-release-key\`, sign with \`flotilla root sign\`, publish with \`flotilla root publish\``,
      );
    this.commit(next, {
      actor,
      action: 'trust-root.add-release-key',
      subjects: [],
      outcome: 'success',
      details: { version: next.trustRoot.version, publicKey, name },
    });
    return next;
  }

  /**
   * Publishes a trust root version signed elsewhere (`flotilla root publish`), audited in the
   * same transaction as `trust-root.publish`. It must be the next version, signed by a threshold
   * of the current root keys and of its own, and still list this hub's key as a hub key.
   * Publishing the current version again changes nothing.
   */
  publish(signed: SignedTrustRoot, actor: Actor): SignedTrustRoot {
    if (canonicalize(signed.trustRoot) === canonicalize(this.trustRoot)) return this.current;
    const next = verifyTrustRoot(signed, this.trustRoot);
    try {
      assertUsableTrustRoot(next);
    } catch (error) {
      throw new FlotillaError('TRUST_ROOT_INVALID', (error as FlotillaError).message);
    }
    if (!next.keys.some((k) => k.id === this.hubKeyId && k.roles.includes('hub')))
      throw new FlotillaError(
        'TRUST_ROOT_INVALID',
        `trust root v${next.version} does not list this hub's key ${this.hubKeyId} as a hub key: agents would refuse every envelope it signs`,
      );
    this.commit(signed, {
      actor,
      action: 'trust-root.publish',
      subjects: [],
      outcome: 'success',
      details: {
        version: next.version,
        keys: next.keys.map((k) => ({ id: k.id, roles: k.roles })),
        thresholds: next.thresholds,
        signers: signed.signatures.map((s) => s.keyId),
      },
    });
    return signed;
  }

  /**
   * Registers an approver's key, bound to the person it belongs to, as a new trust root
   * version. A key registered already (for anything) is refused: one key, one owner.
   */
  addApproverKey(publicKey: string, identity: string, actor: Actor): SignedTrustRoot {
    const { clock } = this.deps;
    assertUsablePublicKey(publicKey, 'approver key');
    const existing = this.trustRoot.keys.find((k) => k.publicKey === publicKey);
    if (existing !== undefined) {
      if (existing.roles.includes('approver') && existing.name === identity) return this.current;
      throw new FlotillaError(
        'CONFLICT',
        `key ${existing.id} is registered already (${existing.roles.join(', ')}${existing.name === undefined ? '' : `, ${existing.name}`}); an approver brings a key of their own`,
      );
    }
    const id = keyIdOf(publicKey);
    const next = this.sign({
      ...this.trustRoot,
      version: this.trustRoot.version + 1,
      keys: [...this.trustRoot.keys, { id, publicKey, roles: ['approver'], name: identity }],
      issuedAt: new Date(clock()).toISOString(),
    });
    if (this.trustRoot.thresholds.root > 1)
      throw new FlotillaError(
        'ROOT_KEY_OFFLINE',
        `trust root v${this.trustRoot.version} needs ${this.trustRoot.thresholds.root} root signatures for a new version, more than this hub's one root key: draft, sign and publish it with \`flotilla root\``,
      );
    this.commit(next, {
      actor,
      action: 'trust-root.add-approver-key',
      subjects: [],
      outcome: 'success',
      details: { version: next.trustRoot.version, keyId: id, publicKey, identity },
    });
    return next;
  }

  /**
   * Adds a key that verifies provenance attestations (an Ed25519 key or cosign's ECDSA P-256
   * PEM) as a new trust root version, audited as `trust-root.add-attestation-key`; adding a
   * key already there changes nothing.
   */
  addAttestationKey(publicKey: string, name: string | undefined, actor: Actor): SignedTrustRoot {
    const { clock } = this.deps;
    const key = attestationKeyOf(publicKey, name);
    if ((this.trustRoot.attestationKeys ?? []).some((k) => k.id === key.id)) return this.current;
    if (this.trustRoot.thresholds.root > 1)
      throw new FlotillaError(
        'ROOT_KEY_OFFLINE',
        `trust root v${this.trustRoot.version} needs ${this.trustRoot.thresholds.root} root signatures for a new version, more than this hub's one root key: add the key with \`flotilla root draft --add-attestation-key\`, sign with \`flotilla root sign\`, publish with \`flotilla root publish\``,
      );
    const next = this.sign(
      nextTrustRoot(this.trustRoot, { addAttestationKeys: [key] }, new Date(clock()).toISOString()),
    );
    this.commit(next, {
      actor,
      action: 'trust-root.add-attestation-key',
      subjects: [],
      outcome: 'success',
      details: { version: next.trustRoot.version, keyId: key.id, algorithm: key.algorithm, name },
    });
    return next;
  }

  /**
   * Stores `next` as the newest version, with its audit entry in the same transaction. Another
   * replica of this hub may have stored that version first, while this one's copy of the trust
   * root was behind: then nothing is stored, this replica reads the newest, and the caller is
   * asked to try again on it.
   */
  private commit(next: SignedTrustRoot, entry: AuditInput): void {
    const { tx, store, audit } = this.deps;
    try {
      tx.run(() => {
        store.insert(next);
        audit.append(entry);
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      this.current = store.latest() ?? this.current;
      throw new FlotillaError(
        'CONFLICT',
        `trust root v${next.trustRoot.version} was published meanwhile, by another replica of this hub; the trust root is v${this.trustRoot.version} now: try again`,
      );
    }
    this.current = next;
  }

  private sign(trustRoot: TrustRoot): SignedTrustRoot {
    const root = this.deps.keys.root;
    if (root === undefined)
      throw new FlotillaError(
        'ROOT_KEY_OFFLINE',
        'this hub holds no root key: make the new trust root version with `flotilla root draft`, sign it where the root keys are with `flotilla root sign`, and publish it with `flotilla root publish`',
      );
    return { trustRoot, signatures: [signPayload('trust-root', trustRoot, root)] };
  }
}
