/**
 * Fields the platform owns: the API server, controllers and kubectl write them, so a
 * difference there is not drift. Only fields present in the desired resource are compared at
 * all (which already leaves out defaulted fields); these are skipped even when a desired
 * manifest carries them, for example when it was exported from a live object.
 */

/** Top-level fields never compared: identity is matched by key, status belongs to controllers. */
export const IGNORED_TOP_LEVEL: ReadonlySet<string> = new Set(['apiVersion', 'kind', 'status']);

/** `metadata` fields the API server sets or that identify rather than describe. */
export const IGNORED_METADATA: ReadonlySet<string> = new Set([
  'name',
  'namespace',
  'managedFields',
  'resourceVersion',
  'uid',
  'creationTimestamp',
  'generation',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
]);

/** Annotations written by tools on every apply, whose value is a copy of the manifest. */
export const IGNORED_ANNOTATIONS: ReadonlySet<string> = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

/**
 * Map-typed fields the API server omits when empty, so a desired `{}` and an absent live
 * field are the same thing. Struct-typed fields (an `emptyDir: {}` volume source) are not in
 * this set: there `{}` is a value and its absence is drift.
 */
export const OMITTED_WHEN_EMPTY: ReadonlySet<string> = new Set([
  'labels',
  'annotations',
  'data',
  'binaryData',
  'stringData',
  'nodeSelector',
  'matchLabels',
  'selector',
]);
