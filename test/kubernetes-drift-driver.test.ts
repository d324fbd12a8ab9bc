import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubernetesDriver, staticToken } from '@flotilla/agent';
import { startKubeApiServer, type KubeApiServer } from './fixtures/kube-apiserver/index.ts';
import {
  shopNamespace as namespace,
  shopSettings as settings,
  shopWeb as web,
  objectRef as ref,
} from './fixtures/shop-bundle.ts';

// What the kubernetes driver gives the drift step: reverts that take fields back (and take
// away fields someone added), and the leftovers of a prune that could not finish.

const TOKEN = 'drift-driver-token';
const OWNER = 'tgt_00000000000000000042';
const container = (kube: KubeApiServer): Record<string, unknown> =>
  (kube.get(ref(web))!['spec'] as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec
    .containers[0]!;

let kube: KubeApiServer;
let driver: KubernetesDriver;

beforeEach(async () => {
  kube = await startKubeApiServer({ tokens: [TOKEN] });
  driver = new KubernetesDriver({ connection: { server: kube.url, token: staticToken(TOKEN) }, owner: OWNER });
  await driver.apply([namespace, settings, web]);
});

afterEach(async () => {
  await driver.close();
  await kube.close();
});

describe('the kubernetes driver for drift', () => {
  it('writes as field manager flotilla, which is what it calls itself', () => {
    expect(driver.selfManagers).toEqual(['flotilla']);
    const managers = (kube.get(ref(web))!['metadata'] as { managedFields: { manager: string; operation: string }[] })
      .managedFields;
    expect(managers).toContainEqual(expect.objectContaining({ manager: 'flotilla', operation: 'Apply' }));
  });

  it('repairs: takes a changed field back with force, removes an added one, prunes nothing', async () => {
    kube.as('kubectl-edit').strategicMergePatch(ref(web), {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: 'app',
                image: 'evil.example/miner:latest',
                securityContext: { privileged: true, runAsUser: 0 },
              },
            ],
          },
        },
      },
    });
    const results = await driver.repair([web], {
      remove: new Map([
        [
          'Deployment.apps/shop/web',
          [
            'spec.template.spec.containers[name=app].securityContext.privileged',
            'spec.template.spec.containers[name=app].securityContext.runAsUser',
          ],
        ],
      ]),
    });
    expect(results).toEqual([{ key: 'Deployment.apps/shop/web', status: 'applied' }]);
    expect(container(kube)['image']).toBe('registry.example/web:1.4.2');
    expect(container(kube)['securityContext'] ?? {}).toEqual({});
    expect(kube.get(ref(settings))).toBeDefined();
  });

  it('repairs a deleted object by creating it again', async () => {
    kube.as('kubectl').delete(ref(settings));
    expect(await driver.repair([settings])).toEqual([{ key: 'ConfigMap/shop/settings', status: 'applied' }]);
    expect(kube.get(ref(settings))?.['data']).toEqual({ mode: 'fast' });
  });

  it('finds what a prune left behind as extras, and nothing else', async () => {
    expect(await driver.extras([namespace, settings, web])).toEqual([]);
    // The namespace holds an object Flotilla does not manage, so it is not pruned with the rest.
    kube
      .as('kubectl')
      .create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'theirs', namespace: 'shop' }, data: {} });
    const results = await driver.apply([]);
    expect(results.find((r) => r.key === 'Namespace//shop')).toMatchObject({ status: 'failed' });
    const extras = await driver.extras([]);
    expect(extras.map((o) => [o['kind'], (o['metadata'] as { name: string }).name])).toEqual([['Namespace', 'shop']]);
  });
});
