import { describe, expect, it } from 'vitest';
import {
  AUTOSCALER_MANAGERS,
  classifyDrift,
  defaultDriftPolicy,
  type AttributedDriftItem,
  type DriftContext,
} from '../../src/drift/index.ts';
import { parseDriftPolicy, type DriftAction, type DriftClass } from '../../src/index.ts';
import { APP_SC, attributed, IMAGE, NOW, QUIET } from './fixtures/attributed.ts';

interface Case {
  readonly name: string;
  readonly item: AttributedDriftItem;
  readonly context?: DriftContext;
  readonly class: DriftClass;
  readonly action: DriftAction;
  readonly ruleId: string;
}

const GRACE: DriftContext = { now: NOW, lastAppliedAt: new Date(NOW.getTime() - 30_000) };
const rbacBinding = (path: string, change: 'added' | 'modified' | 'removed' = 'modified') =>
  attributed(
    { path, change, kind: 'ClusterRoleBinding', resourceKey: 'ClusterRoleBinding.rbac.authorization.k8s.io//web' },
    'kubectl-edit',
  );

// One row per default rule and every way into it; the rule ids are the documented ones.
const cases: Case[] = [
  // image-not-allowed
  {
    name: 'an image from an unknown registry',
    item: attributed(
      { path: IMAGE, desired: 'ghcr.io/acme/web:1.4.2', observed: 'evil.io/miner:latest' },
      'kubectl-set',
    ),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'image-not-allowed',
  },
  {
    name: 'a new tag of the desired image when no registry is allowed',
    item: attributed(
      { path: IMAGE, desired: 'ghcr.io/acme/web:1.4.2', observed: 'ghcr.io/acme/web:1.4.3' },
      'kubectl-set',
    ),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'image-not-allowed',
  },
  {
    name: 'an added container with an unknown image',
    item: attributed(
      {
        path: 'spec.template.spec.containers[name=miner]',
        change: 'added',
        observed: { name: 'miner', image: 'evil.io/miner' },
      },
      'kubectl-edit',
    ),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'image-not-allowed',
  },
  {
    name: 'an image change by a spoofed autoscaler name',
    item: attributed(
      { path: IMAGE, desired: 'ghcr.io/acme/web:1.4.2', observed: 'evil.io/miner' },
      'kube-controller-manager',
    ),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'image-not-allowed',
  },
  // privilege-added
  {
    name: 'privileged: true',
    item: attributed({ path: `${APP_SC}.privileged`, change: 'added', observed: true }, 'kubectl-edit'),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'allowPrivilegeEscalation turned on',
    item: attributed({ path: `${APP_SC}.allowPrivilegeEscalation`, desired: false, observed: true }, 'kubectl-patch'),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'allowPrivilegeEscalation: false removed',
    item: attributed({ path: `${APP_SC}.allowPrivilegeEscalation`, change: 'removed', desired: false }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'an added capability',
    item: attributed(
      { path: `${APP_SC}.capabilities.add[1]`, change: 'added', observed: 'SYS_ADMIN' },
      'kubectl-patch',
    ),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'a capability list added',
    item: attributed({ path: `${APP_SC}.capabilities.add`, change: 'added', observed: ['NET_ADMIN'] }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'a dropped capability no longer dropped',
    item: attributed({ path: `${APP_SC}.capabilities.drop[0]`, change: 'removed', desired: 'ALL' }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'runAsUser 0',
    item: attributed({ path: 'spec.template.spec.securityContext.runAsUser', change: 'added', observed: 0 }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'runAsNonRoot removed',
    item: attributed({ path: `${APP_SC}.runAsNonRoot`, change: 'removed', desired: true }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'seccomp unconfined',
    item: attributed({
      path: 'spec.template.spec.securityContext.seccompProfile.type',
      change: 'added',
      observed: 'Unconfined',
    }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'a hostPath volume',
    item: attributed({
      path: 'spec.template.spec.volumes[name=root]',
      change: 'added',
      observed: { name: 'root', hostPath: { path: '/' } },
    }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'hostPath on a desired volume',
    item: attributed({
      path: 'spec.template.spec.volumes[name=config].hostPath',
      change: 'added',
      observed: { path: '/etc' },
    }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'hostNetwork',
    item: attributed({ path: 'spec.template.spec.hostNetwork', change: 'added', observed: true }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'hostPID',
    item: attributed({ path: 'spec.hostPID', change: 'added', observed: true, kind: 'Pod', resourceKey: 'Pod/shop/p' }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'another service account',
    item: attributed(
      { path: 'spec.template.spec.serviceAccountName', desired: 'web', observed: 'admin' },
      'kubectl-edit',
    ),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'privilege-added',
  },
  {
    name: 'an added privileged busybox container (the image rule comes first)',
    item: attributed({
      path: 'spec.template.spec.containers[name=debug]',
      change: 'added',
      observed: { name: 'debug', image: 'docker.io/library/busybox', securityContext: { privileged: true } },
    }),
    context: QUIET,
    class: 'dangerous',
    action: 'revert',
    ruleId: 'image-not-allowed',
  },
  // rbac-changed
  {
    name: 'a subject added to a ClusterRoleBinding',
    item: rbacBinding('subjects[1]', 'added'),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'rbac-changed',
  },
  {
    name: 'a roleRef changed',
    item: rbacBinding('roleRef.name'),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'rbac-changed',
  },
  {
    name: 'a verb added to a Role',
    item: attributed(
      {
        path: 'rules[0].verbs[2]',
        change: 'added',
        observed: 'delete',
        kind: 'Role',
        resourceKey: 'Role.rbac.authorization.k8s.io/shop/read',
      },
      'kubectl-edit',
    ),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'rbac-changed',
  },
  {
    name: 'an RBAC binding that outlived its release',
    item: attributed({
      path: '',
      change: 'extra-resource',
      kind: 'RoleBinding',
      resourceKey: 'RoleBinding.rbac.authorization.k8s.io/shop/old',
    }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'rbac-changed',
  },
  // network-policy-deleted
  {
    name: 'a deleted NetworkPolicy',
    item: attributed({
      path: '',
      change: 'deleted-resource',
      kind: 'NetworkPolicy',
      resourceKey: 'NetworkPolicy.networking.k8s.io/shop/deny-all',
    }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'network-policy-deleted',
  },
  // resource-deleted
  {
    name: 'a deleted ConfigMap',
    item: attributed({
      path: '',
      change: 'deleted-resource',
      kind: 'ConfigMap',
      resourceKey: 'ConfigMap/shop/web-config',
    }),
    class: 'dangerous',
    action: 'revert',
    ruleId: 'resource-deleted',
  },
  {
    name: 'a deleted Deployment during a rollout',
    item: attributed({ path: '', change: 'deleted-resource' }),
    context: { ...QUIET, rolloutInFlight: true },
    class: 'dangerous',
    action: 'revert',
    ruleId: 'resource-deleted',
  },
  // autoscaler-replicas
  ...AUTOSCALER_MANAGERS.map((pattern): Case => {
    const manager = pattern.replace('*', 'updater');
    return {
      name: `replicas set by ${manager}`,
      item: attributed({ path: 'spec.replicas', desired: 3, observed: 8 }, manager, {
        actor: pattern === 'kube-controller-manager' ? { subresource: 'scale' } : {},
      }),
      class: 'acceptable',
      action: 'accept',
      ruleId: 'autoscaler-replicas',
    };
  }),
  {
    name: 'replicas set by keda-operator inside the grace period',
    item: attributed({ path: 'spec.replicas', desired: 3, observed: 8 }, 'keda-operator'),
    context: GRACE,
    class: 'acceptable',
    action: 'accept',
    ruleId: 'autoscaler-replicas',
  },
  // grace-period
  {
    name: 'an env change right after Flotilla applied',
    item: attributed({ path: 'spec.template.spec.containers[name=app].env[name=A].value' }, 'kubectl-edit'),
    context: GRACE,
    class: 'transient',
    action: 'wait',
    ruleId: 'grace-period',
  },
  {
    name: 'an unknown change right after Flotilla applied',
    item: attributed({ path: 'spec.minReadySeconds' }),
    context: GRACE,
    class: 'transient',
    action: 'wait',
    ruleId: 'grace-period',
  },
  // rollout-in-flight
  {
    name: 'a change while the target rolls out',
    item: attributed({ path: 'spec.minReadySeconds' }),
    context: { ...QUIET, rolloutInFlight: true },
    class: 'transient',
    action: 'wait',
    ruleId: 'rollout-in-flight',
  },
  {
    name: 'a change to a resource still rolling',
    item: attributed({ path: 'spec.minReadySeconds' }),
    context: { ...QUIET, rolloutInFlight: new Set(['Deployment.apps/shop/web']) },
    class: 'transient',
    action: 'wait',
    ruleId: 'rollout-in-flight',
  },
  // extra-resource
  {
    name: 'a ConfigMap no longer desired',
    item: attributed({ path: '', change: 'extra-resource', kind: 'ConfigMap', resourceKey: 'ConfigMap/shop/old' }),
    class: 'suspicious',
    action: 'alert',
    ruleId: 'extra-resource',
  },
  // human-change
  ...[
    'kubectl-edit',
    'kubectl-client-side-apply',
    'kubectl',
    'kubectl-patch',
    'kubectl-set',
    'kubectl-scale',
    'k9s',
    'Mozilla',
  ].map((manager): Case => ({
    name: `a change by ${manager}`,
    item: attributed(
      {
        path:
          manager === 'kubectl-scale' ? 'spec.replicas' : 'spec.template.spec.containers[name=app].env[name=A].value',
      },
      manager,
    ),
    class: 'suspicious',
    action: 'alert',
    ruleId: 'human-change',
  })),
  // unknown-actor
  {
    name: 'a change by an unknown actor (manifests-dir)',
    item: attributed({ path: 'data.key', kind: 'ConfigMap', resourceKey: 'ConfigMap/shop/c' }),
    class: 'suspicious',
    action: 'alert',
    ruleId: 'unknown-actor',
  },
  {
    name: 'a change by an unrecognized controller',
    item: attributed({ path: 'spec.template.spec.containers[name=app].env[name=A].value' }, 'helm'),
    class: 'suspicious',
    action: 'alert',
    ruleId: 'unknown-actor',
  },
  {
    name: 'replicas by a human are not autoscaling',
    item: attributed({ path: 'spec.replicas' }, 'kubectl-edit'),
    class: 'suspicious',
    action: 'alert',
    ruleId: 'human-change',
  },
  {
    name: 'a change after the grace period ended',
    item: attributed({ path: 'spec.minReadySeconds' }),
    context: { now: NOW, lastAppliedAt: new Date(NOW.getTime() - 121_000) },
    class: 'suspicious',
    action: 'alert',
    ruleId: 'unknown-actor',
  },
];

describe('classifyDrift with the default policy', () => {
  it.each(cases)('$name is $class/$action by $ruleId', ({ item, context, class: klass, action, ruleId }) => {
    const [decision] = classifyDrift([item], defaultDriftPolicy, context ?? QUIET);
    expect(decision).toMatchObject({ class: klass, action, ruleId });
    expect(decision?.reason.length).toBeGreaterThan(0);
    expect(decision).not.toHaveProperty('intentional');
  });

  it('covers every default rule in the table', () => {
    const covered = new Set(cases.map((c) => c.ruleId));
    expect(defaultDriftPolicy.rules.map((rule) => rule.id).filter((id) => !covered.has(id))).toEqual([]);
  });

  it('keeps security first: a privilege added inside the grace period is still reverted', () => {
    const [decision] = classifyDrift(
      [attributed({ path: `${APP_SC}.privileged`, change: 'added', observed: true })],
      defaultDriftPolicy,
      GRACE,
    );
    expect(decision).toMatchObject({
      class: 'dangerous',
      action: 'revert',
      ruleId: 'privilege-added',
      detectors: ['privilege-escalation'],
    });
  });

  it('accepts an image from an allowed registry as a human change, not a dangerous one', () => {
    const policy = parseDriftPolicy({
      rules: defaultDriftPolicy.rules,
      settings: { allowedRegistries: ['ghcr.io/acme'] },
    });
    const [decision] = classifyDrift(
      [
        attributed(
          { path: IMAGE, desired: 'ghcr.io/acme/web:1.4.2', observed: 'ghcr.io/acme/web:1.4.3' },
          'kubectl-set',
        ),
      ],
      policy,
      QUIET,
    );
    expect(decision).toMatchObject({ class: 'suspicious', action: 'alert', ruleId: 'human-change', detectors: [] });
  });

  it('says in the reason who changed it and what flagged it', () => {
    const [decision] = classifyDrift(
      [attributed({ path: IMAGE, desired: 'a', observed: 'evil.io/x' }, 'kubectl-set')],
      defaultDriftPolicy,
      QUIET,
    );
    expect(decision?.reason).toContain('flagged by image-not-allowed');
    expect(decision?.reason).toContain('changed by kubectl-set (Update)');
  });
});

describe('classifyDrift rule mechanics', () => {
  const context = QUIET;

  it('falls back to built-in decisions when no rule matches', () => {
    const policy = parseDriftPolicy({ rules: [] });
    const decisions = classifyDrift(
      [
        attributed({ path: `${APP_SC}.privileged`, change: 'added', observed: true }),
        attributed({ path: 'spec.minReadySeconds' }),
      ],
      policy,
      context,
    );
    expect(decisions.map((d) => [d.class, d.action, d.ruleId])).toEqual([
      ['dangerous', 'revert', 'builtin-security'],
      ['suspicious', 'alert', 'builtin-default'],
    ]);
  });

  it.each<[string, object, AttributedDriftItem, boolean]>([
    [
      'kinds',
      { kinds: ['Config*'] },
      attributed({ path: 'data.a', kind: 'ConfigMap', resourceKey: 'ConfigMap/shop/c' }),
      true,
    ],
    [
      'kinds, no match',
      { kinds: ['Secret'] },
      attributed({ path: 'data.a', kind: 'ConfigMap', resourceKey: 'ConfigMap/shop/c' }),
      false,
    ],
    ['resources', { resources: ['*/shop/*'] }, attributed({ path: 'spec.x' }), true],
    ['resources, no match', { resources: ['*/kube-system/*'] }, attributed({ path: 'spec.x' }), false],
    [
      'paths',
      { paths: ['spec.template.spec.containers[*].env[*].value'] },
      attributed({ path: 'spec.template.spec.containers[name=app].env[name=A].value' }),
      true,
    ],
    ['changes', { changes: ['removed'] }, attributed({ path: 'spec.x' }), false],
    ['security: false', { security: false }, attributed({ path: 'spec.x' }), true],
    ['security: true', { security: true }, attributed({ path: 'spec.x' }), false],
    [
      'operations',
      { actor: { operations: ['Apply'] } },
      attributed({ path: 'spec.x' }, 'argocd-controller', { actor: { operation: 'Apply' } }),
      true,
    ],
    [
      'operations, no match',
      { actor: { operations: ['Apply'] } },
      attributed({ path: 'spec.x' }, 'argocd-controller'),
      false,
    ],
    [
      'subresources',
      { actor: { subresources: ['scale'] } },
      attributed({ path: 'spec.replicas' }, 'x', { actor: { subresource: 'scale' } }),
      true,
    ],
    [
      'subresources, main resource',
      { actor: { subresources: [''] } },
      attributed({ path: 'spec.replicas' }, 'x'),
      true,
    ],
    ['age within bounds', { age: { minSeconds: 3000, maxSeconds: 4000 } }, attributed({ path: 'spec.x' }, 'x'), true],
    ['age too young', { age: { minSeconds: 7200 } }, attributed({ path: 'spec.x' }, 'x'), false],
    ['age unknown', { age: { minSeconds: 0 } }, attributed({ path: 'spec.x' }), false],
    ['held, without a hold', { context: { held: true } }, attributed({ path: 'spec.x' }), false],
    ['not held', { context: { held: false } }, attributed({ path: 'spec.x' }), true],
    ['not in grace period', { context: { inGracePeriod: false } }, attributed({ path: 'spec.x' }), true],
  ])('matches on %s', (_name, match, item, expected) => {
    const policy = parseDriftPolicy({ rules: [{ id: 'probe', match, class: 'suspicious', action: 'alert' }] });
    expect(classifyDrift([item], policy, context)[0]?.ruleId === 'probe').toBe(expected);
  });

  it('lets a rule choose an action other than its class default', () => {
    const policy = parseDriftPolicy({
      rules: [
        {
          id: 'observe-only',
          match: { security: true },
          class: 'dangerous',
          action: 'alert',
          reason: 'observe mode while we tune the policy',
        },
      ],
    });
    expect(
      classifyDrift(
        [attributed({ path: `${APP_SC}.privileged`, change: 'added', observed: true })],
        policy,
        context,
      )[0],
    ).toMatchObject({
      class: 'dangerous',
      action: 'alert',
      ruleId: 'observe-only',
      reason: expect.stringContaining('observe mode'),
    });
  });

  it('has no grace period when it is 0', () => {
    const policy = parseDriftPolicy({ rules: defaultDriftPolicy.rules, settings: { gracePeriodSeconds: 0 } });
    expect(classifyDrift([attributed({ path: 'spec.x' })], policy, { now: NOW, lastAppliedAt: NOW })[0]?.ruleId).toBe(
      'unknown-actor',
    );
  });
});
