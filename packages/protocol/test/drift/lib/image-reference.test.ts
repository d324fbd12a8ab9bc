import { describe, expect, it } from 'vitest';
import { compileNameGlob } from '../../../src/drift/lib/path-glob.ts';
import { isImageFromAllowedRegistry, parseImageReference } from '../../../src/drift/lib/image-reference.ts';

describe('parseImageReference', () => {
  it.each([
    ['nginx', { registry: 'docker.io', repository: 'library/nginx', name: 'docker.io/library/nginx' }],
    [
      'nginx:1.27',
      { registry: 'docker.io', repository: 'library/nginx', name: 'docker.io/library/nginx', tag: '1.27' },
    ],
    ['acme/app:2', { registry: 'docker.io', repository: 'acme/app', name: 'docker.io/acme/app', tag: '2' }],
    ['ghcr.io/acme/web:1.4.2', { registry: 'ghcr.io', repository: 'acme/web', name: 'ghcr.io/acme/web', tag: '1.4.2' }],
    ['localhost:5000/app', { registry: 'localhost:5000', repository: 'app', name: 'localhost:5000/app' }],
    [
      'index.docker.io/library/redis',
      { registry: 'docker.io', repository: 'library/redis', name: 'docker.io/library/redis' },
    ],
    [
      'registry.k8s.io/pause@sha256:7031c1b283388d2c2e09b57badb803c05ebed362dc88d84b480cc47f72a21097',
      {
        registry: 'registry.k8s.io',
        repository: 'pause',
        name: 'registry.k8s.io/pause',
        digest: 'sha256:7031c1b283388d2c2e09b57badb803c05ebed362dc88d84b480cc47f72a21097',
      },
    ],
  ])('%s', (image, expected) => {
    expect(parseImageReference(image)).toEqual(expected);
  });

  it.each([[''], ['app:'], ['app@'], ['has space']])('refuses %j', (image) => {
    expect(parseImageReference(image)).toBeUndefined();
  });
});

describe('isImageFromAllowedRegistry', () => {
  const allowed = ['ghcr.io/acme', '*.dkr.ecr.*.amazonaws.com', 'docker.io/library'].map(compileNameGlob);
  it.each([
    ['ghcr.io/acme/web:2', true],
    ['ghcr.io/acme-evil/web:2', false],
    ['ghcr.io/other/web:2', false],
    ['123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1', true],
    ['nginx:1.27', true],
    ['evil/nginx', false],
    ['evil.io/miner', false],
    ['', false],
  ])('%s: %s', (image, expected) => {
    expect(isImageFromAllowedRegistry(image, allowed)).toBe(expected);
  });

  it('allows nothing with no registries', () => {
    expect(isImageFromAllowedRegistry('ghcr.io/acme/web:2', [])).toBe(false);
  });
});
