import { describe, expect, it } from 'vitest';
import { bundleImages } from '../../src/policy/bundle-images.ts';
import { inspectRelease } from '../../src/policy/inspect-release.ts';
import { makeBundle, PINNED, PINNED_INIT, releaseTrust, signedRelease } from './policy-fixtures.ts';

describe('the images of a bundle', () => {
  it('finds containers, init and ephemeral containers wherever a pod template sits', () => {
    const bundle = makeBundle([PINNED_INIT, PINNED]);
    bundle.resources.push({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'nightly', namespace: 'pay' },
      spec: {
        jobTemplate: {
          spec: {
            template: {
              spec: {
                containers: [{ name: 'job', image: 'busybox:1.36' }],
                ephemeralContainers: [{ name: 'debug', image: 'ghcr.io/acme/debug:1' }],
              },
            },
          },
        },
      },
    });
    expect(bundleImages(bundle)).toEqual(
      expect.arrayContaining([
        { image: PINNED_INIT, resource: 'Deployment.apps/pay/api' },
        { image: PINNED, resource: 'Deployment.apps/pay/api' },
        { image: 'busybox:1.36', resource: 'CronJob.batch/pay/nightly' },
        { image: 'ghcr.io/acme/debug:1', resource: 'CronJob.batch/pay/nightly' },
      ]),
    );
    expect(bundleImages(bundle)).toHaveLength(4);
  });

  it('walks a deeply nested resource without overflowing the stack', () => {
    let deep: Record<string, unknown> = { containers: [{ image: 'deep:1' }] };
    for (let i = 0; i < 50_000; i++) deep = { nested: deep };
    expect(
      bundleImages({ resources: [{ apiVersion: 'v1', kind: 'Thing', metadata: { name: 'x' }, spec: deep }] }),
    ).toEqual([{ image: 'deep:1', resource: 'Thing//x' }]);
  });
});

describe('inspecting a release', () => {
  it('counts distinct valid release signatures', () => {
    const signed = signedRelease([PINNED], 2);
    expect(
      inspectRelease({ ...signed, signatures: [...signed.signatures, signed.signatures[0]!] }, [], {
        releaseKeys: releaseTrust,
        attestationKeys: [],
      }).signers,
    ).toBe(2);
  });

  it('refuses a bundle that does not hash to its digest', () => {
    const signed = signedRelease([PINNED], 1);
    expect(() =>
      inspectRelease({ ...signed, bundle: { ...signed.bundle, version: '9.9.9' } }, [], {
        releaseKeys: releaseTrust,
        attestationKeys: [],
      }),
    ).toThrow(expect.objectContaining({ code: 'BUNDLE_DIGEST_MISMATCH' }));
  });
});
