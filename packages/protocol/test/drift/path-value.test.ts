import { describe, expect, it } from 'vitest';
import { jsonPointerAt, removeValueAtPath, setValueAtPath, valueAtPath } from '../../src/drift/index.ts';

function deployment(): Record<string, any> {
  return {
    metadata: { labels: { 'app.kubernetes.io/name': 'web' } },
    spec: {
      replicas: 2,
      template: {
        spec: {
          containers: [
            { name: 'proxy', image: 'envoy', ports: [{ containerPort: 9901 }] },
            {
              name: 'app',
              image: 'web:1',
              env: [{ name: 'LOG_LEVEL', value: 'info' }],
              ports: [
                { containerPort: 53, protocol: 'UDP' },
                { containerPort: 53, protocol: 'TCP' },
              ],
            },
          ],
        },
      },
      args: ['a', 'b'],
    },
  };
}

describe('values at drift paths', () => {
  it.each([
    ['spec.replicas', 2],
    ['spec.template.spec.containers[name=app].image', 'web:1'],
    ['spec.template.spec.containers[name=app].env[name=LOG_LEVEL].value', 'info'],
    ['spec.template.spec.containers[name=app].ports[containerPort=53,protocol=TCP].protocol', 'TCP'],
    ['spec.template.spec.containers[name=proxy].ports[containerPort=9901]', { containerPort: 9901 }],
    ['metadata.labels["app.kubernetes.io/name"]', 'web'],
    ['spec.args[1]', 'b'],
    ['spec.template.spec.containers[name=nope].image', undefined],
    ['spec.args[5]', undefined],
    ['spec.replicas.deeper', undefined],
  ])('reads %s', (path, expected) => {
    expect(valueAtPath(deployment(), path)).toEqual(expected);
  });

  it('sets values in place, creating maps and keyed items on the way', () => {
    const object = deployment();
    expect(setValueAtPath(object, 'spec.template.spec.containers[name=app].image', 'evil:latest')).toBe(true);
    expect(setValueAtPath(object, 'spec.template.spec.containers[name=app].securityContext.privileged', true)).toBe(
      true,
    );
    expect(setValueAtPath(object, 'spec.template.spec.containers[name=app].env[name=DEBUG].value', '1')).toBe(true);
    expect(setValueAtPath(object, 'data["config.yaml"]', 'x: 1')).toBe(true);
    expect(object.spec.template.spec.containers[1]).toMatchObject({
      image: 'evil:latest',
      securityContext: { privileged: true },
      env: [
        { name: 'LOG_LEVEL', value: 'info' },
        { name: 'DEBUG', value: '1' },
      ],
    });
    expect(object.data).toEqual({ 'config.yaml': 'x: 1' });
  });

  it('refuses a path that cannot exist here, and changes nothing', () => {
    const object = deployment();
    const before = structuredClone(object);
    expect(setValueAtPath(object, 'spec.replicas.deeper', 1)).toBe(false);
    expect(setValueAtPath(object, 'spec.args[7]', 'x')).toBe(false);
    expect(setValueAtPath(object, 'spec.missing[0].x', 'x')).toBe(false);
    expect(setValueAtPath(object, '', 'x')).toBe(false);
    expect(object).toEqual(before);
  });

  it('removes fields and list items', () => {
    const object = deployment();
    expect(removeValueAtPath(object, 'spec.template.spec.containers[name=app].env[name=LOG_LEVEL]')).toBe(true);
    expect(removeValueAtPath(object, 'spec.args[0]')).toBe(true);
    expect(removeValueAtPath(object, 'spec.replicas')).toBe(true);
    expect(removeValueAtPath(object, 'spec.replicas')).toBe(false);
    expect(object.spec).toMatchObject({
      args: ['b'],
      template: { spec: { containers: [{ name: 'proxy' }, { name: 'app', env: [] }] } },
    });
    expect(object.spec.replicas).toBeUndefined();
  });

  it('resolves keyed items to positions for a JSON patch', () => {
    expect(
      jsonPointerAt(deployment(), 'spec.template.spec.containers[name=app].ports[containerPort=53,protocol=TCP]'),
    ).toBe('/spec/template/spec/containers/1/ports/1');
    expect(jsonPointerAt(deployment(), 'metadata.labels["app.kubernetes.io/name"]')).toBe(
      '/metadata/labels/app.kubernetes.io~1name',
    );
    expect(jsonPointerAt(deployment(), 'spec.template.spec.containers[name=gone].image')).toBeUndefined();
  });
});
