import {
  parseDriftPolicy,
  type DriftPolicy,
  type DriftPolicyInput,
  type DriftRule,
} from '../documents/drift-policy.ts';

/** Field managers of the autoscalers: the HPA (inside kube-controller-manager), VPA, KEDA, cluster-autoscaler. */
export const AUTOSCALER_MANAGERS: readonly string[] = Object.freeze([
  'kube-controller-manager',
  'vpa-*',
  'keda-*',
  'cluster-autoscaler',
]);

/**
 * Field managers of people: kubectl names itself `kubectl` for server-side apply and
 * `kubectl-<command>` for the rest (`kubectl-edit`, `kubectl-patch`, `kubectl-set`,
 * `kubectl-client-side-apply`, ...); UIs are named by their User-Agent.
 */
const HUMAN_MANAGERS: readonly string[] = Object.freeze([
  'kubectl',
  'kubectl-*',
  'k9s',
  'Mozilla',
  'lens',
  'OpenLens',
  'Headlamp',
]);

const rules: DriftRule[] = [
  {
    id: 'image-not-allowed',
    description: 'An image that is neither the desired one nor from an allowed registry runs code nobody released.',
    match: { detectors: ['image-not-allowed'] },
    class: 'dangerous',
    reason: 'image is neither the desired one nor from an allowed registry',
  },
  {
    id: 'privilege-added',
    description:
      'Privileged mode, privilege escalation, added capabilities, root, host namespaces or hostPath volumes widen what a compromise can reach.',
    match: { detectors: ['privilege-escalation'] },
    class: 'dangerous',
    reason: 'adds privilege (privileged, escalation, capabilities, root, host namespaces or hostPath)',
  },
  {
    id: 'rbac-changed',
    description:
      'Changed Role/ClusterRole rules or RoleBinding/ClusterRoleBinding subjects and roleRef grant access nobody released.',
    match: { detectors: ['rbac-change'] },
    class: 'dangerous',
    reason: 'changes who may do what (RBAC rules, subjects or roleRef)',
  },
  {
    id: 'network-policy-deleted',
    description: 'A deleted NetworkPolicy opens traffic it was there to stop.',
    match: { detectors: ['network-policy-deleted'] },
    class: 'dangerous',
    reason: 'a NetworkPolicy was deleted',
  },
  {
    id: 'resource-deleted',
    description: 'A desired resource that is gone is restored.',
    match: { changes: ['deleted-resource'] },
    class: 'dangerous',
    reason: 'a desired resource was deleted',
  },
  {
    id: 'autoscaler-replicas',
    description: 'Autoscalers own the replica count of what they scale.',
    match: { paths: ['spec.replicas'], changes: ['modified'], actor: { managers: [...AUTOSCALER_MANAGERS] } },
    class: 'acceptable',
    reason: 'replicas set by an autoscaler',
  },
  {
    id: 'grace-period',
    description: "Right after Flotilla's own apply, controllers and webhooks are still settling.",
    match: { context: { inGracePeriod: true } },
    class: 'transient',
    reason: "inside the grace period after Flotilla's own apply; rechecked when it ends",
  },
  {
    id: 'rollout-in-flight',
    description: 'While a rollout is in flight, live state trails desired state.',
    match: { context: { rolloutInFlight: true } },
    class: 'transient',
    reason: 'a rollout is in flight; rechecked when it settles',
  },
  {
    id: 'extra-resource',
    description: 'A resource Flotilla applied earlier is still there though no longer desired.',
    match: { changes: ['extra-resource'] },
    class: 'suspicious',
    reason: 'no longer desired but still present; prune it or adopt it into a release',
  },
  {
    id: 'human-change',
    description: 'A person changed it by hand (kubectl edit, patch, set, client-side apply, a UI).',
    match: { actor: { managers: [...HUMAN_MANAGERS] } },
    class: 'suspicious',
    reason: 'changed by hand; kept, and reported for an operator to adopt or revert',
  },
  {
    id: 'unknown-actor',
    description: 'Nobody recognizable changed it: another controller, a script, or a substrate that does not say.',
    match: {},
    class: 'suspicious',
    reason: 'changed by an unknown or unrecognized actor; kept, and reported',
  },
];

/**
 * The drift policy an envelope carries when its author wrote none. In order: security-relevant
 * changes are dangerous and reverted (image, privilege, RBAC, deleted NetworkPolicy, any
 * deleted resource); autoscaler replicas are acceptable; changes in the grace period after
 * Flotilla's own apply or during a rollout are transient; extra resources, changes by hand and
 * changes by anyone else are suspicious and alerted, never silently overwritten.
 */
export const defaultDriftPolicy: DriftPolicy = deepFreeze(parseDriftPolicy({ rules }));

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * A policy of your rules followed by the default ones, so that yours decide first and the
 * defaults still catch the rest. Throws `DRIFT_POLICY_INVALID` like {@link parseDriftPolicy}.
 *
 * @example
 * extendDefaultDriftPolicy([{ id: 'vpa-requests', match: { paths: ['spec.template.spec.containers[*].resources.requests.*'], actor: { managers: ['vpa-*'] } }, class: 'acceptable' }], { allowedRegistries: ['ghcr.io/acme'] })
 */
export function extendDefaultDriftPolicy(
  rules: DriftPolicyInput['rules'],
  settings: DriftPolicyInput['settings'] = {},
): DriftPolicy {
  return parseDriftPolicy({ rules: [...rules, ...defaultDriftPolicy.rules], settings });
}
