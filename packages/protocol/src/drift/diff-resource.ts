import { resourceKey, type Resource } from '../documents/resource.ts';
import type { DriftItem } from './drift-item.ts';
import type { DiffSink } from './lib/diff-sink.ts';
import { walkResource } from './lib/diff-walk.ts';
import { compilePathGlob, type GlobMatch } from './lib/path-glob.ts';
import { isJsonObject, type JsonObject } from './lib/json-value.ts';
import { walkSecurityAdditions } from './lib/security-additions.ts';
import { liveResourceKey, type LiveObject } from './live-object.ts';

/** Options of {@link diffResource} and {@link diffResources}. */
export interface DiffOptions {
  /**
   * Path globs to leave out besides the platform-owned fields, for fields another tool is
   * meant to own: `['metadata.annotations[*]', 'spec.template.metadata.annotations.**']`.
   */
  readonly ignore?: readonly string[];
}

/** A diff option set compiled once, so that diffing many resources does not recompile globs. */
export interface CompiledDiffOptions {
  readonly ignore: readonly GlobMatch[];
}

/** Compiles the ignore globs of `options` once for many {@link diffResource} calls. */
export function compileDiffOptions(options: DiffOptions = {}): CompiledDiffOptions {
  return { ignore: (options.ignore ?? []).map(compilePathGlob) };
}

function isCompiled(options: DiffOptions | CompiledDiffOptions): options is CompiledDiffOptions {
  return Array.isArray(options.ignore) && options.ignore.every((glob) => typeof glob === 'function');
}

/**
 * A Secret's `stringData` is write-only: the API server folds it into `data` as base64 and
 * never returns it. Comparing the desired Secret as the server stores it avoids reporting
 * every stringData key as removed.
 */
function asStored(desired: JsonObject): JsonObject {
  if (desired.kind !== 'Secret' || !isJsonObject(desired.stringData)) return desired;
  const data: JsonObject = isJsonObject(desired.data) ? { ...desired.data } : {};
  for (const [key, value] of Object.entries(desired.stringData)) {
    if (typeof value === 'string') data[key] = Buffer.from(value, 'utf8').toString('base64');
  }
  const { stringData: _, ...rest } = desired;
  return { ...rest, data };
}

/**
 * Diffs one desired resource against its live object. Compares only the fields the desired
 * resource sets (so defaults and controller state are not drift), skips the platform-owned
 * fields (status, metadata.managedFields, resourceVersion, uid, creationTimestamp,
 * generation, selfLink, deletionTimestamp, the last-applied annotation), and adds the
 * security-relevant additions of a pod spec (containers, host namespaces, hostPath volumes,
 * securityContext) even though the desired resource does not mention them.
 *
 * A missing live object is one `deleted-resource` item.
 *
 * @example
 * diffResource(deployment, liveDeployment)
 * // [{ resourceKey: 'Deployment.apps/shop/web', kind: 'Deployment',
 * //    path: 'spec.template.spec.containers[name=app].image', change: 'modified',
 * //    desired: 'ghcr.io/acme/web:1.4.2', observed: 'evil.example/miner:latest' }]
 */
export function diffResource(
  desired: Resource,
  live: LiveObject | null | undefined,
  options: DiffOptions | CompiledDiffOptions = {},
): DriftItem[] {
  const key = resourceKey(desired);
  if (live === null || live === undefined) {
    return [{ resourceKey: key, kind: desired.kind, path: '', change: 'deleted-resource' }];
  }
  const liveKey = liveResourceKey(live);
  if (liveKey !== key) {
    throw new TypeError(
      `diffResource compares a resource with its own live object, but the desired resource is ${key} and the live object is ${liveKey ?? 'not a Kubernetes object'}`,
    );
  }
  const compiled = isCompiled(options) ? options : compileDiffOptions(options);
  const sink: DiffSink = {
    resourceKey: key,
    kind: desired.kind,
    redact: desired.kind === 'Secret',
    ignore: compiled.ignore,
    stack: [],
    items: [],
  };
  const stored = asStored(desired);
  walkResource(sink, stored, live);
  walkSecurityAdditions(sink, stored, live);
  return sink.items;
}
