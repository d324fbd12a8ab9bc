import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignedBundle } from '@flotilla/protocol';
import { AttestationStore, type StoredAttestation } from '../../../src/features/bundles/attestation-store.ts';
import { BundleStore } from '../../../src/features/bundles/bundle-store.ts';
import { isUniqueViolation } from '../../../src/store/sql.ts';
import { STORE_KINDS, type OpenedStore } from '../../store-kinds.ts';

function bundle(name: string, version: string, digest: string, note = ''): SignedBundle {
  return { digest, bundle: { name, version, resources: [], note }, signatures: [] } as unknown as SignedBundle;
}

function attestation(releaseDigest: string, digest: string, addedAt: number): StoredAttestation {
  return {
    releaseDigest,
    digest,
    format: 'dsse',
    json: `{"digest":"${digest}"}`,
    signers: ['builder-key'],
    builder: 'https://ci.example/builder',
    sources: [
      { uri: 'git+https://example.com/app', digest: { sha1: 'abc' } },
    ] as unknown as StoredAttestation['sources'],
    addedAt,
    addedBy: 'alice',
  };
}

describe.each(STORE_KINDS)('on $name', (kind) => {
  describe.skipIf(!kind.available())('the bundle stores', () => {
    let store: OpenedStore;

    beforeAll(() => {
      store = kind.open();
    });

    afterAll(() => {
      store?.close();
    });

    describe('BundleStore', () => {
      it('serves a release’s JSON as stored, and its size in bytes, not characters', () => {
        const bundles = new BundleStore(store.db);
        const signed = bundle('web', '1.0.0', 'sha256:web1', 'déjà vu ✓');
        bundles.insert(signed, 100, 'alice');
        const json = JSON.stringify(signed);
        expect(bundles.json('sha256:web1')).toBe(json);
        expect(bundles.size('sha256:web1')).toBe(Buffer.byteLength(json));
        expect(bundles.size('sha256:web1')).toBeGreaterThan(json.length);
        expect(bundles.size('sha256:none')).toBeUndefined();
      });

      it('finds a release by digest and by name and version', () => {
        const bundles = new BundleStore(store.db);
        bundles.insert(bundle('api', '2.0.0', 'sha256:api2'), 200, 'bob');
        expect(bundles.release('sha256:api2')).toEqual({ name: 'api', version: '2.0.0' });
        expect(bundles.digestOf('api', '2.0.0')).toBe('sha256:api2');
        expect(bundles.digestOf('api', '9.9.9')).toBeUndefined();
        expect(bundles.record('sha256:api2')).toEqual({
          digest: 'sha256:api2',
          name: 'api',
          version: '2.0.0',
          createdAt: 200,
          createdBy: 'bob',
        });
      });

      it('lists releases by name, then by age, then by version', () => {
        const bundles = new BundleStore(store.db);
        bundles.insert(bundle('zeta', '2.0.0', 'sha256:z2'), 900, 'alice');
        bundles.insert(bundle('zeta', '1.0.0', 'sha256:z1'), 800, 'alice');
        bundles.insert(bundle('zeta', '3.1.0', 'sha256:z31'), 1000, 'alice');
        bundles.insert(bundle('zeta', '3.0.0', 'sha256:z30'), 1000, 'alice');
        bundles.insert(bundle('Zeta', '1.0.0', 'sha256:Z1'), 950, 'alice');
        const order = bundles.list().map((r) => `${r.name}@${r.version}`);
        // Upper case sorts before lower case on both stores (byte order, as SQLite's BINARY).
        expect(order.filter((r) => r.toLowerCase().startsWith('zeta'))).toEqual([
          'Zeta@1.0.0',
          'zeta@1.0.0',
          'zeta@2.0.0',
          'zeta@3.0.0',
          'zeta@3.1.0',
        ]);
      });

      it('refuses a second digest for a published name and version as a unique violation', () => {
        const bundles = new BundleStore(store.db);
        bundles.insert(bundle('db', '1.0.0', 'sha256:db-a'), 100, 'alice');
        let failure: unknown;
        try {
          bundles.insert(bundle('db', '1.0.0', 'sha256:db-b'), 101, 'alice');
        } catch (error) {
          failure = error;
        }
        expect(isUniqueViolation(failure)).toBe(true);
        expect(bundles.digestOf('db', '1.0.0')).toBe('sha256:db-a');
      });
    });

    describe('AttestationStore', () => {
      it('keeps the first of an attestation added twice, and lists a release’s oldest first', () => {
        new BundleStore(store.db).insert(bundle('att', '1.0.0', 'sha256:att1'), 100, 'alice');
        const attestations = new AttestationStore(store.db);
        expect(attestations.insert(attestation('sha256:att1', 'sha256:b', 300))).toBe(true);
        expect(attestations.insert(attestation('sha256:att1', 'sha256:a', 200))).toBe(true);
        expect(attestations.insert({ ...attestation('sha256:att1', 'sha256:a', 400), addedBy: 'mallory' })).toBe(false);
        expect(attestations.of('sha256:att1')).toEqual([
          attestation('sha256:att1', 'sha256:a', 200),
          attestation('sha256:att1', 'sha256:b', 300),
        ]);
        expect(attestations.of('sha256:none')).toEqual([]);
      });
    });
  });
});
