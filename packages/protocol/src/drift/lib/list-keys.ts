import { isJsonObject } from './json-value.ts';

/**
 * Lists whose items have an identity, by the name of the list field, and the candidate key
 * fields to try in order. They mirror the `x-kubernetes-list-map-keys` of the Kubernetes API,
 * so a path names the same item that managedFields names with `k:{...}`. A candidate is used
 * only when every desired item carries it and its values are unique; otherwise the list is
 * compared by index.
 */
const LIST_KEYS: Readonly<Record<string, readonly (readonly string[])[]>> = {
  containers: [['name']],
  initContainers: [['name']],
  ephemeralContainers: [['name']],
  env: [['name']],
  volumes: [['name']],
  volumeMounts: [['mountPath']],
  volumeDevices: [['devicePath']],
  // Container ports are keyed by containerPort, Service ports by port; DNS-style pairs that
  // share a number (53/TCP and 53/UDP) need the protocol too.
  ports: [['containerPort'], ['containerPort', 'protocol'], ['port'], ['port', 'protocol']],
  imagePullSecrets: [['name']],
  hostAliases: [['ip']],
  readinessGates: [['conditionType']],
  topologySpreadConstraints: [['topologyKey'], ['topologyKey', 'whenUnsatisfiable']],
  resourceClaims: [['name']],
  webhooks: [['name']],
};

function isKeyScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/** The tuple of an item's key values as one string, or undefined if it lacks one of them. */
export function keyTuple(item: unknown, fields: readonly string[]): string | undefined {
  if (!isJsonObject(item)) return undefined;
  if (fields.length === 1) {
    const value = item[fields[0] as string];
    return isKeyScalar(value) ? String(value) : undefined;
  }
  let tuple = '';
  for (const field of fields) {
    const value = item[field];
    if (!isKeyScalar(value)) return undefined;
    // A separator that cannot appear inside a JSON-safe key value keeps tuples distinct.
    tuple += `${String(value)}\u0000`;
  }
  return tuple;
}

/** The key fields to identify items of the list `field` by, or undefined to use indexes. */
export function chooseListKey(field: string, desiredItems: readonly unknown[]): readonly string[] | undefined {
  const candidates = LIST_KEYS[field];
  if (candidates === undefined || desiredItems.length === 0) return undefined;
  for (const fields of candidates) {
    const seen = new Set<string>();
    let usable = true;
    for (const item of desiredItems) {
      const tuple = keyTuple(item, fields);
      if (tuple === undefined || seen.has(tuple)) {
        usable = false;
        break;
      }
      seen.add(tuple);
    }
    if (usable) return fields;
  }
  return undefined;
}
