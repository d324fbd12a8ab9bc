import { z } from 'zod';

/**
 * How a resource or field differs from what Flotilla applied:
 * - `modified`: both have the field, with different values;
 * - `added`: the live object has a field the desired one does not (reported only where it is
 *   security-relevant, or for extra items of an ordered list);
 * - `removed`: the desired field is missing from the live object;
 * - `deleted-resource`: a desired resource is absent;
 * - `extra-resource`: a resource Flotilla manages is present but no longer desired.
 */
export const DriftChange = z.enum(['modified', 'added', 'removed', 'deleted-resource', 'extra-resource']);
export type DriftChange = z.infer<typeof DriftChange>;

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
