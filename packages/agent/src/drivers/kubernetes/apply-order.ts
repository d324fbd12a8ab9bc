// The order Helm installs kinds in (pkg/releaseutil/kind_sorter.go), with CustomResourceDefinitions
// moved up right after Namespaces: custom resources can only be applied once their CRD is
// established, and namespaced objects only once their Namespace exists.
const ORDER = [
  'Namespace',
  'CustomResourceDefinition',
  'NetworkPolicy',
  'ResourceQuota',
  'LimitRange',
  'PodDisruptionBudget',
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'StorageClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
  'Service',
  'DaemonSet',
  'Pod',
  'ReplicationController',
  'ReplicaSet',
  'Deployment',
  'HorizontalPodAutoscaler',
  'StatefulSet',
  'Job',
  'CronJob',
  'IngressClass',
  'Ingress',
  'APIService',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
];

/** The rank of a kind in apply order; kinds not listed (custom resources among them) come last. */
function applyRank(kind: string): number {
  const index = ORDER.indexOf(kind);
  return index === -1 ? ORDER.length : index;
}

/** Sorts by apply order, keeping the given order among equals. */
export function inApplyOrder<T extends { readonly kind: string }>(items: readonly T[]): T[] {
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => applyRank(a.item.kind) - applyRank(b.item.kind) || a.index - b.index)
    .map(({ item }) => item);
}

/** The reverse: dependents before what they depend on, Namespaces and CRDs last. */
export function inPruneOrder<T extends { readonly kind: string }>(items: readonly T[]): T[] {
  return inApplyOrder(items).reverse();
}
