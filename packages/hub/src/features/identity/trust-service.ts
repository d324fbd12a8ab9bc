import { randomBytes } from 'node:crypto';
import {
  API_VERSION,
  assertUsablePublicKey,
  keyIdOf,
  signPayload,
  FlotillaError,
  type Actor,
  type KeyPair,
  type SignedTrustRoot,
  type TrustRoot,
  type TrustRootKey,
} from '@flotilla/protocol';
import type { AuditSink } from '../../audit-sink.ts';
import type { Clock } from '../../clock.ts';
import type { Transactions } from '../../store/transaction.ts';
import type { TrustStore } from './trust-store.ts';

export interface HubKeys {
  /** Signs envelopes, access tokens and audit checkpoints. */
  readonly hub: KeyPair;
  /**
   * Signs new trust root versions. Kept beside the hub for a single-machine setup; an
   * operator who wants root keys offline signs trust roots elsewhere and uploads them.
   */
  readonly root: KeyPair;
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
    let hubId = store.hubId();
    if (hubId === undefined) {
      hubId = `hub_${randomBytes(8).toString('hex')}`;
      store.setHubId(hubId);
    }
    this.hubId = hubId;
    this.audience = `urn:flotilla:hub:${hubId}`;
    this.hubKeyId = keyIdOf(keys.hub.publicKey);
    const latest = store.latest();
    if (latest === undefined) {
      this.current = this.sign({
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
      store.insert(this.current);
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
    const { tx, store, audit, clock } = this.deps;
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
    tx.run(() => {
      store.insert(next);
      audit.append({
        actor,
        action: 'trust-root.add-release-key',
        subjects: [],
        outcome: 'success',
        details: { version: next.trustRoot.version, publicKey, name },
      });
    });
    this.current = next;
    return next;
  }

  private sign(trustRoot: TrustRoot): SignedTrustRoot {
    return { trustRoot, signatures: [signPayload('trust-root', trustRoot, this.deps.keys.root)] };
  }
}
