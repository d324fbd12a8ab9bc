import { describe, expect, it } from 'vitest';
import { diffResources } from '../../src/drift/index.ts';
import type { Resource } from '../../src/index.ts';
import { desiredWeb, liveWeb } from './fixtures/web-deployment.ts';

const configMap = (name: string, data: Record<string, string> = { a: '1' }): Resource => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'shop' },
  data,
});
const policy: Resource = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'deny-all', namespace: 'shop' },
  spec: { podSelector: {}, policyTypes: ['Ingress'] },
};

describe('diffResources', () => {
  it('reports deleted resources, field drift and extra resources, in a stable order', () => {
    const live = liveWeb();
    live.spec.replicas = 1;
    const extra = { ...configMap('old-config'), metadata: { name: 'old-config', namespace: 'shop', uid: 'u1' } };
    const items = diffResources(
      [configMap('web-config'), desiredWeb(), policy],
      [
        live,
        extra,
        { ...configMap('web-config'), metadata: { name: 'web-config', namespace: 'shop', resourceVersion: '5' } },
        configMap('not-ours'),
      ],
      [extra],
    );
    expect(items).toEqual([
      {
        resourceKey: 'Deployment.apps/shop/web',
        kind: 'Deployment',
        path: 'spec.replicas',
        change: 'modified',
        desired: 3,
        observed: 1,
      },
      {
        resourceKey: 'NetworkPolicy.networking.k8s.io/shop/deny-all',
        kind: 'NetworkPolicy',
        path: '',
        change: 'deleted-resource',
      },
      { resourceKey: 'ConfigMap/shop/old-config', kind: 'ConfigMap', path: '', change: 'extra-resource' },
    ]);
  });

  it('takes live objects as a map by resource key', () => {
    const live = new Map([['ConfigMap/shop/web-config', configMap('web-config', { a: '2' })]]);
    expect(diffResources([configMap('web-config')], live)).toEqual([
      {
        resourceKey: 'ConfigMap/shop/web-config',
        kind: 'ConfigMap',
        path: 'data.a',
        change: 'modified',
        desired: '1',
        observed: '2',
      },
    ]);
  });

  it.each([
    ['an extra that is also desired', [configMap('web-config')]],
    ['an extra that is not a Kubernetes object', [{ kind: 'ConfigMap' }]],
  ])('does not report %s as extra', (_name, extra) => {
    expect(diffResources([configMap('web-config')], [configMap('web-config')], extra)).toEqual([]);
  });

  it('applies ignore globs to every resource', () => {
    expect(
      diffResources([configMap('a'), configMap('b')], [configMap('a', { a: 'x' }), configMap('b', { a: 'y' })], [], {
        ignore: ['data.a'],
      }),
    ).toEqual([]);
  });
});
