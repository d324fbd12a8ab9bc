import type { DriftChange } from '../documents/drift-vocabulary.ts';

/**
 * One difference between desired and observed state. `path` is empty for whole-resource
 * changes. `desired` and `observed` reference the compared documents rather than copying them
 * (treat them as read-only), and hold `"<redacted>"` for Secret values.
 */
export interface DriftItem {
  /** {@link resourceKey} of the resource: `Kind.group/namespace/name`. */
  readonly resourceKey: string;
  readonly kind: string;
  /** A field path as written by {@link formatFieldPath}, e.g. `spec.template.spec.containers[name=app].image`. */
  readonly path: string;
  readonly change: DriftChange;
  readonly desired?: unknown;
  readonly observed?: unknown;
}

/** What replaces Secret values in drift items, so that they never reach a report or a log. */
export const REDACTED = '<redacted>';
