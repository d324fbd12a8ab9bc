import { describe, expect, it } from 'vitest';
import { compileNameGlob, compilePathGlob } from '../../../src/drift/lib/path-glob.ts';

describe('compileNameGlob', () => {
  it.each([
    ['kubectl-*', 'kubectl-edit', true],
    ['kubectl-*', 'kubectl', false],
    ['vpa-*', 'vpa-updater', true],
    ['*', '', true],
    ['kube-controller-manager', 'kube-controller-manager', true],
    ['kube-controller-manager', 'kube-controller-manager-x', false],
    ['*.dkr.ecr.*.amazonaws.com', '123456789012.dkr.ecr.eu-west-1.amazonaws.com', true],
    ['a.b', 'axb', false],
    ['?pa-*', 'vpa-x', true],
    ['a\\b*', 'a\\bc', true],
  ])('%s on %s is %s', (pattern, text, expected) => {
    expect(compileNameGlob(pattern)(text)).toBe(expected);
  });
});

describe('compilePathGlob', () => {
  it.each([
    ['spec.replicas', 'spec.replicas', true],
    ['spec.replicas', 'spec.replicasX', false],
    ['spec.template.spec.containers[*].image', 'spec.template.spec.containers[name=app].image', true],
    ['spec.template.spec.containers[*].image', 'spec.template.spec.containers[0].image', true],
    ['spec.template.spec.containers[*].image', 'spec.template.spec.containers[name="a.b]c"].image', true],
    ['spec.template.spec.containers[*].image', 'spec.template.spec.initContainers[name=app].image', false],
    ['metadata.labels.*', 'metadata.labels.app', true],
    ['metadata.labels.*', 'metadata.labels["app.kubernetes.io/name"]', false],
    ['metadata.labels[*]', 'metadata.labels["app.kubernetes.io/name"]', true],
    ['spec.*', 'spec.template.spec', false],
    ['spec.**', 'spec.template.spec', true],
    ['**.securityContext.**', 'spec.template.spec.containers[name=app].securityContext.privileged', true],
    ['**.securityContext.**', 'spec.template.spec.securityContextX.a', false],
    ['**.image', 'spec.template.spec.containers[name=app].image', true],
  ])('%s on %s is %s', (pattern, path, expected) => {
    expect(compilePathGlob(pattern)(path)).toBe(expected);
  });
});
