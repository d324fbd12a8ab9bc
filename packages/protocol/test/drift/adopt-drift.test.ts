import { describe, expect, it } from 'vitest';
import { adoptDrift, driftItemId, driftPreviewValue } from '../../src/drift/index.ts';
import { DRIFT_VALUE_PREVIEW_MAX, type Resource } from '../../src/index.ts';

const settings: Resource = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'settings', namespace: 'shop' },
  data: { mode: 'fast' },
};
const web: Resource = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web' },
  spec: {
    replicas: 2,
    template: { spec: { containers: [{ name: 'app', image: 'web:1', env: [{ name: 'A', value: '1' }] }] } },
  },
};

describe('drift item ids', () => {
  it('are short, stable and differ by resource and path', () => {
    const id = driftItemId('Deployment.apps/shop/web', 'spec.replicas');
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(driftItemId('Deployment.apps/shop/web', 'spec.replicas')).toBe(id);
    expect(driftItemId('Deployment.apps/shop/web', '')).not.toBe(id);
    expect(driftItemId('Deployment.apps/shop/api', 'spec.replicas')).not.toBe(id);
  });
});

describe('values read back from report previews', () => {
  it.each([
    ['"slow"', { value: 'slow' }],
    ['5', { value: 5 }],
    ['{"privileged":true}', { value: { privileged: true } }],
    ['"<redacted>"', undefined],
    [`"${'x'.repeat(DRIFT_VALUE_PREVIEW_MAX - 2)}…`, undefined],
    [undefined, undefined],
  ])('%s', (preview, expected) => {
    expect(driftPreviewValue(preview)).toEqual(expected);
  });
});

describe('adopting drift into a release', () => {
  it('writes observed values, removes removed fields, drops deleted resources, and leaves the input alone', () => {
    const input = [settings, web];
    const result = adoptDrift(input, [
      { resourceKey: 'ConfigMap/shop/settings', path: 'data.mode', change: 'modified', observed: 'slow' },
      // The bundle leaves the namespace to the driver; the observed key has it.
      { resourceKey: 'Deployment.apps/shop/web', path: 'spec.replicas', change: 'modified', observed: 5 },
      {
        resourceKey: 'Deployment.apps/shop/web',
        path: 'spec.template.spec.containers[name=app].env[name=A]',
        change: 'removed',
      },
      {
        resourceKey: 'Deployment.apps/shop/web',
        path: 'spec.template.spec.containers[name=app].securityContext.runAsUser',
        change: 'added',
        observed: 1000,
      },
      { resourceKey: 'Service/shop/web', path: 'spec.type', change: 'modified', observed: 'NodePort' },
    ]);
    expect(result.resources[0]).toMatchObject({ data: { mode: 'slow' } });
    expect(result.resources[1]).toMatchObject({
      spec: {
        replicas: 5,
        template: { spec: { containers: [{ name: 'app', env: [], securityContext: { runAsUser: 1000 } }] } },
      },
    });
    expect(result.adopted).toHaveLength(4);
    expect(result.unmatched.map((i) => i.resourceKey)).toEqual(['Service/shop/web']);
    expect(input[0]).toEqual(settings);
    expect(
      adoptDrift(input, [{ resourceKey: 'ConfigMap/shop/settings', path: '', change: 'deleted-resource' }]).resources,
    ).toEqual([web]);
  });

  it.each([
    ['an extra resource', { resourceKey: 'ConfigMap/shop/settings', path: '', change: 'extra-resource' as const }],
    [
      'a value the report did not carry',
      { resourceKey: 'ConfigMap/shop/settings', path: 'data.mode', change: 'modified' as const },
    ],
    [
      'a path the release has no place for',
      { resourceKey: 'ConfigMap/shop/settings', path: 'data.mode.deeper', change: 'modified' as const, observed: 1 },
    ],
  ])('refuses %s', (_name, item) => {
    // Not expect.unreachable() inside the try: its own error would be caught below and reported
    // as the wrong kind of error, hiding that nothing was refused.
    expect(() => adoptDrift([settings], [item])).toThrow(
      expect.objectContaining({ name: 'FlotillaError', code: 'VALIDATION_FAILED' }),
    );
  });
});
