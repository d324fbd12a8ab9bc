import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyDrift, defaultDriftPolicy, type AttributedDriftItem } from '../../src/drift/index.ts';
import { DriftClass, DriftAction, parseDriftPolicy, type DriftRule } from '../../src/index.ts';
import { APP_SC, attributed, IMAGE, NOW, QUIET } from './fixtures/attributed.ts';

/** Items the built-in detectors flag, each changed by a manager that claims to be trusted. */
const flagged = (manager: string): [string, AttributedDriftItem][] => [
  ['privileged', attributed({ path: `${APP_SC}.privileged`, change: 'added', observed: true }, manager)],
  ['an unknown image', attributed({ path: IMAGE, desired: 'ghcr.io/acme/web:1', observed: 'evil.io/miner' }, manager)],
  [
    'an added container',
    attributed(
      {
        path: 'spec.template.spec.containers[name=sidecar]',
        change: 'added',
        observed: { name: 'sidecar', image: 'ghcr.io/acme/sidecar:1' },
      },
      manager,
    ),
  ],
  [
    'a hostPath volume',
    attributed(
      {
        path: 'spec.template.spec.volumes[name=host]',
        change: 'added',
        observed: { name: 'host', hostPath: { path: '/' } },
      },
      manager,
    ),
  ],
  [
    'a ClusterRoleBinding subject',
    attributed(
      {
        path: 'subjects[1]',
        change: 'added',
        kind: 'ClusterRoleBinding',
        resourceKey: 'ClusterRoleBinding.rbac.authorization.k8s.io//admins',
      },
      manager,
    ),
  ],
  [
    'a NetworkPolicy change',
    attributed(
      {
        path: 'spec.ingress[0].from[0].ipBlock.cidr',
        kind: 'NetworkPolicy',
        resourceKey: 'NetworkPolicy.networking.k8s.io/shop/p',
        desired: '10.0.0.0/8',
        observed: '0.0.0.0/0',
      },
      manager,
    ),
  ],
];

const trustByName: DriftRule = {
  id: 'trust-my-operator',
  description: 'my operator owns these',
  match: { actor: { managers: ['my-operator'] } },
  class: 'acceptable',
};

describe('a manager name cannot silence a security-relevant change', () => {
  const policy = parseDriftPolicy({ rules: [trustByName, ...defaultDriftPolicy.rules] });

  it.each(flagged('my-operator'))('%s by "my-operator" is not accepted on the name alone', (_name, item) => {
    const [decision] = classifyDrift([item], policy, QUIET);
    expect(decision?.class).not.toBe('acceptable');
    expect(decision?.action).not.toBe('accept');
    expect(decision?.guardedRules).toEqual(['trust-my-operator']);
    expect(decision?.reason).toContain('may not silence a security-relevant change');
  });

  it('still accepts what the detectors do not flag', () => {
    const [decision] = classifyDrift(
      [attributed({ path: 'spec.template.spec.containers[name=app].env[name=A].value' }, 'my-operator')],
      policy,
      QUIET,
    );
    expect(decision).toMatchObject({ class: 'acceptable', action: 'accept', ruleId: 'trust-my-operator' });
    expect(decision).not.toHaveProperty('guardedRules');
  });

  it.each<[string, DriftRule['match'], AttributedDriftItem]>([
    [
      'an operation',
      { actor: { operations: ['Apply'] } },
      attributed({ path: `${APP_SC}.privileged`, change: 'added', observed: true }, 'x', {
        actor: { operation: 'Apply' },
      }),
    ],
    [
      'a subresource',
      { actor: { subresources: ['scale'] } },
      attributed({ path: `${APP_SC}.privileged`, change: 'added', observed: true }, 'x', {
        actor: { subresource: 'scale' },
      }),
    ],
    [
      'an age (managedFields time is writable too)',
      { age: { minSeconds: 0 } },
      attributed({ path: `${APP_SC}.privileged`, change: 'added', observed: true }, 'x'),
    ],
    [
      'a hold',
      { context: { held: true } },
      attributed({ path: `${APP_SC}.privileged`, change: 'added', observed: true }, 'x', { annotationHold: 'INC-1' }),
    ],
  ])('guards a rule matching on %s', (_name, match, item) => {
    for (const klass of ['acceptable', 'transient'] as const) {
      const guarded = parseDriftPolicy({ rules: [{ id: 'hint', match, class: klass }] });
      expect(classifyDrift([item], guarded, QUIET)[0]).toMatchObject({ class: 'dangerous', guardedRules: ['hint'] });
    }
    // A silent action under a loud class is silent too.
    const quietAction = parseDriftPolicy({ rules: [{ id: 'hint', match, class: 'suspicious', action: 'accept' }] });
    expect(classifyDrift([item], quietAction, QUIET)[0]?.action).not.toBe('accept');
  });

  it('lets a rule that matches on actor raise or keep alerting a security-relevant change', () => {
    const item = attributed({ path: `${APP_SC}.privileged`, change: 'added', observed: true }, 'my-operator');
    const alertOnly = parseDriftPolicy({
      rules: [{ id: 'operator-alert', match: { actor: { managers: ['my-operator'] } }, class: 'suspicious' }],
    });
    expect(classifyDrift([item], alertOnly, QUIET)[0]).toMatchObject({
      class: 'suspicious',
      action: 'alert',
      ruleId: 'operator-alert',
    });
  });

  it('lets an operator accept a security-relevant change by what changed, not by who claims to have changed it', () => {
    const sidecar = attributed(
      {
        path: 'spec.template.spec.containers[name=istio-proxy]',
        change: 'added',
        observed: { name: 'istio-proxy', image: 'docker.io/istio/proxyv2:1.24.0' },
      },
      'istio-sidecar-injector',
    );
    const byPath = parseDriftPolicy({
      rules: [
        {
          id: 'istio-sidecar',
          match: { paths: ['spec.template.spec.containers[name=istio-proxy]'], changes: ['added'] },
          class: 'acceptable',
        },
      ],
    });
    expect(classifyDrift([sidecar], byPath, QUIET)[0]).toMatchObject({
      class: 'acceptable',
      action: 'accept',
      ruleId: 'istio-sidecar',
    });
  });

  it('holds for any policy of rules that match on actor (property)', () => {
    const hintRule = fc.record({
      id: fc.constantFrom('a', 'b', 'c', 'd'),
      match: fc.oneof(
        fc.record({ actor: fc.record({ managers: fc.constant(['*']) }) }),
        fc.record({
          actor: fc.record({ operations: fc.constant(['Update' as const, 'Apply' as const, 'unknown' as const]) }),
        }),
        fc.record({ age: fc.constant({ minSeconds: 0 }) }),
        fc.record({ paths: fc.constant(['**']), actor: fc.record({ managers: fc.constant(['*']) }) }),
      ),
      class: fc.constantFrom(...DriftClass.options),
      action: fc.option(fc.constantFrom(...DriftAction.options), { nil: undefined }),
    });
    const rules = fc.uniqueArray(hintRule, { selector: (rule) => rule.id, maxLength: 4 });
    const items = fc.constantFrom(...flagged('my-operator').map(([, item]) => item));
    const context = fc.record({
      now: fc.constant(NOW),
      lastAppliedAt: fc.constantFrom(NOW, new Date(0)),
      rolloutInFlight: fc.boolean(),
    });
    fc.assert(
      fc.property(rules, items, context, (ruleList, item, ctx) => {
        const policy = parseDriftPolicy({
          rules: ruleList.map(({ action, ...rule }) => (action === undefined ? rule : { ...rule, action })),
        });
        const [decision] = classifyDrift([item], policy, ctx);
        expect(['acceptable', 'transient']).not.toContain(decision?.class);
        expect(['accept', 'wait']).not.toContain(decision?.action);
      }),
    );
  });
});
