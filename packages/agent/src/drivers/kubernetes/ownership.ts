import type { Resource } from '@flotilla/protocol';
import { asRecord } from './as-record.ts';

/** The recommended label that says which tool manages an object. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'flotilla';
/** The resource key Flotilla applied an object under; prune deletes only what carries it. */
export const KEY_ANNOTATION = 'flotilla.io/key';
/** The target (agent) that applied an object, when several agents share a cluster. */
export const TARGET_LABEL = 'flotilla.io/target';

// Fields the server owns: sent in an apply they would be refused (managedFields) or act as a
// precondition (resourceVersion), which a manifest exported from a cluster must not carry.
const SERVER_METADATA = [
  'managedFields',
  'resourceVersion',
  'uid',
  'creationTimestamp',
  'generation',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
];

/**
 * The object Flotilla applies for a resource: server-owned metadata removed, and marked as
 * Flotilla's with the managed-by label, the key annotation and, with an owner, the target label.
 */
export function markedForApply(resource: Resource, key: string, owner: string | undefined): Record<string, unknown> {
  const copy = structuredClone(resource) as Resource & Record<string, unknown>;
  const metadata = copy.metadata as Record<string, unknown>;
  for (const field of SERVER_METADATA) delete metadata[field];
  copy.metadata.labels = {
    ...copy.metadata.labels,
    [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
    ...(owner === undefined ? {} : { [TARGET_LABEL]: owner }),
  };
  copy.metadata.annotations = { ...copy.metadata.annotations, [KEY_ANNOTATION]: key };
  return copy;
}

/** The label selector of every object this agent applied. */
export function managedSelector(owner: string | undefined): string {
  return `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}${owner === undefined ? '' : `,${TARGET_LABEL}=${owner}`}`;
}

/** True when a live object still carries the marks Flotilla put on it for `key`. */
export function isMarkedAs(live: Record<string, unknown>, key: string, owner: string | undefined): boolean {
  const metadata = asRecord(live['metadata']);
  const labels = asRecord(metadata['labels']);
  const annotations = asRecord(metadata['annotations']);
  if (labels[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE || annotations[KEY_ANNOTATION] !== key) return false;
  return owner === undefined || labels[TARGET_LABEL] === owner;
}
