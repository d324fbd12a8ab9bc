import type { DriftItem } from './drift-item.ts';
import { parseFieldPath, type PathSegment } from './field-path.ts';
import { compileNameGlob, type GlobMatch } from './lib/path-glob.ts';
import { isImageFromAllowedRegistry } from './lib/image-reference.ts';
import { isJsonObject, isUnset } from './lib/json-value.ts';
import type { SecurityDetector } from '../documents/drift-vocabulary.ts';

const CONTAINER_LISTS: ReadonlySet<string> = new Set(['containers', 'initContainers', 'ephemeralContainers']);
const HOST_NAMESPACES: ReadonlySet<string> = new Set(['hostNetwork', 'hostPID', 'hostIPC']);
const RBAC_ROLE_KINDS: ReadonlySet<string> = new Set(['Role', 'ClusterRole']);
const RBAC_BINDING_KINDS: ReadonlySet<string> = new Set(['RoleBinding', 'ClusterRoleBinding']);

/** Settings the detectors need, compiled once per policy. */
export interface DetectorSettings {
  readonly allowedRegistries: readonly GlobMatch[];
}

/** Compiles the registry globs of a policy's settings. */
export function compileDetectorSettings(settings: { readonly allowedRegistries: readonly string[] }): DetectorSettings {
  return { allowedRegistries: settings.allowedRegistries.map(compileNameGlob) };
}

function fieldName(segment: PathSegment | undefined): string | undefined {
  return segment?.kind === 'field' ? segment.name : undefined;
}

function isInContainer(segments: readonly PathSegment[], at: number): boolean {
  const list = fieldName(segments[at - 1]);
  return list !== undefined && CONTAINER_LISTS.has(list) && segments[at]?.kind !== 'field';
}

/** True when a securityContext (pod or container) grants or weakens anything. */
function contextGrantsPrivilege(context: unknown): boolean {
  if (!isJsonObject(context)) return false;
  if (context.privileged === true || context.allowPrivilegeEscalation === true) return true;
  if (context.runAsUser === 0 || context.runAsGroup === 0 || context.runAsNonRoot === false) return true;
  if (context.procMount === 'Unmasked') return true;
  const capabilities = context.capabilities;
  if (isJsonObject(capabilities) && Array.isArray(capabilities.add) && capabilities.add.length > 0) return true;
  for (const profile of [context.seccompProfile, context.appArmorProfile]) {
    if (isJsonObject(profile) && profile.type === 'Unconfined') return true;
  }
  return false;
}

function containerGrantsPrivilege(container: unknown): boolean {
  if (!isJsonObject(container)) return false;
  if (contextGrantsPrivilege(container.securityContext)) return true;
  return (
    Array.isArray(container.ports) &&
    container.ports.some((port) => isJsonObject(port) && typeof port.hostPort === 'number' && port.hostPort > 0)
  );
}

/**
 * Whether a securityContext field's change adds privilege. `name` is the field, `within`
 * the field holding it (`capabilities`, `seccompProfile`), `observed`/`desired` its values.
 */
function securityFieldEscalates(
  item: DriftItem,
  name: string | undefined,
  within: string | undefined,
  segments: readonly PathSegment[],
  at: number,
): boolean {
  const { change, desired, observed } = item;
  const removed = change === 'removed';
  switch (name) {
    case 'privileged':
      return observed === true;
    case 'allowPrivilegeEscalation':
      // Unset means allowed: removing a desired `false` escalates as much as setting `true`.
      return observed === true || (removed && desired === false);
    case 'runAsNonRoot':
      return observed === false || (removed && desired === true);
    case 'runAsUser':
    case 'runAsGroup':
      return observed === 0 || (removed && typeof desired === 'number' && desired !== 0);
    case 'readOnlyRootFilesystem':
      return observed === false || (removed && desired === true);
    case 'procMount':
      return observed === 'Unmasked';
    case 'type':
      return (within === 'seccompProfile' || within === 'appArmorProfile') && (observed === 'Unconfined' || removed);
    case 'seccompProfile':
    case 'appArmorProfile':
      return removed || (isJsonObject(observed) && observed.type === 'Unconfined');
    case 'capabilities':
      return removed
        ? isJsonObject(desired) && Array.isArray(desired.drop) && desired.drop.length > 0
        : isJsonObject(observed) && Array.isArray(observed.add) && observed.add.length > 0;
    case 'add':
      return within === 'capabilities' && change !== 'removed' && !(Array.isArray(observed) && observed.length === 0);
    case 'drop':
      return within === 'capabilities' && change !== 'added';
    case 'securityContext':
      return removed ? isJsonObject(desired) && Object.keys(desired).length > 0 : contextGrantsPrivilege(observed);
    default: {
      // An item of a capabilities list: `capabilities.add[0]` added, `capabilities.drop[1]` removed.
      const list = fieldName(segments[at - 1]);
      if (segments[at]?.kind === 'index' && fieldName(segments[at - 2]) === 'capabilities') {
        return (list === 'add' && change !== 'removed') || (list === 'drop' && change !== 'added');
      }
      return false;
    }
  }
}

/** True when the last segment is a field directly in a pod spec (`spec` or `...template.spec`). */
function isPodSpecField(segments: readonly PathSegment[]): boolean {
  return (
    segments.length === 2 ||
    (segments.length > 2 &&
      fieldName(segments[segments.length - 2]) === 'spec' &&
      fieldName(segments[segments.length - 3]) === 'template')
  );
}

function detectPodSpecChange(
  item: DriftItem,
  segments: readonly PathSegment[],
  settings: DetectorSettings,
  found: Set<SecurityDetector>,
): void {
  const { change, desired, observed } = item;
  const last = segments.length - 1;
  const name = fieldName(segments[last]);

  // A whole container added to a pod spec.
  if (change === 'added' && isInContainer(segments, last)) {
    found.add('container-added');
    if (containerGrantsPrivilege(observed)) found.add('privilege-escalation');
    const image = isJsonObject(observed) ? observed.image : undefined;
    if (typeof image === 'string' && !isImageFromAllowedRegistry(image, settings.allowedRegistries))
      found.add('image-not-allowed');
    return;
  }

  // A container's image.
  if (name === 'image' && isInContainer(segments, last - 1) && typeof observed === 'string' && observed !== desired) {
    if (!isImageFromAllowedRegistry(observed, settings.allowedRegistries)) found.add('image-not-allowed');
    return;
  }

  if (name !== undefined && HOST_NAMESPACES.has(name) && observed === true) {
    found.add('privilege-escalation');
    return;
  }

  // Running as another service account borrows whatever that account may do.
  if (
    (name === 'serviceAccountName' || name === 'serviceAccount') &&
    change !== 'removed' &&
    isPodSpecField(segments)
  ) {
    found.add('privilege-escalation');
    return;
  }

  if (name === 'hostPort' && typeof observed === 'number' && observed > 0) {
    found.add('privilege-escalation');
    return;
  }

  // hostPath: a volume added with one, a volume switched to one, or its path changed.
  for (let i = 0; i < segments.length; i++) {
    if (fieldName(segments[i]) !== 'volumes' || segments[i + 1] === undefined || segments[i + 1]?.kind === 'field')
      continue;
    if (i + 1 === last && change !== 'removed' && isJsonObject(observed) && !isUnset(observed.hostPath))
      found.add('privilege-escalation');
    if (fieldName(segments[i + 2]) === 'hostPath' && change !== 'removed') found.add('privilege-escalation');
    return;
  }

  // Anything under a securityContext.
  const contextAt = segments.findIndex((segment) => fieldName(segment) === 'securityContext');
  if (contextAt !== -1 && securityFieldEscalates(item, name, fieldName(segments[last - 1]), segments, last)) {
    found.add('privilege-escalation');
  }
}

/**
 * Runs the built-in security detectors on one item: see {@link SecurityDetector}. They look at
 * what changed, never at who changed it.
 */
export function detectSecurity(item: DriftItem, settings: DetectorSettings): SecurityDetector[] {
  const found = new Set<SecurityDetector>();
  const { kind, change } = item;
  if (change === 'deleted-resource') {
    found.add('resource-deleted');
    if (kind === 'NetworkPolicy') found.add('network-policy-deleted');
    if (RBAC_ROLE_KINDS.has(kind) || RBAC_BINDING_KINDS.has(kind)) found.add('rbac-change');
    return [...found];
  }
  if (change === 'extra-resource') {
    // A grant that outlived its release still grants.
    if (RBAC_ROLE_KINDS.has(kind) || RBAC_BINDING_KINDS.has(kind)) found.add('rbac-change');
    return [...found];
  }
  let segments: PathSegment[];
  try {
    segments = parseFieldPath(item.path);
  } catch {
    // An item whose path cannot be read cannot be cleared either.
    return ['privilege-escalation'];
  }
  const top = fieldName(segments[0]);
  if (RBAC_ROLE_KINDS.has(kind) && (top === 'rules' || top === 'aggregationRule')) found.add('rbac-change');
  if (RBAC_BINDING_KINDS.has(kind) && (top === 'subjects' || top === 'roleRef')) found.add('rbac-change');
  if (kind === 'NetworkPolicy' && top === 'spec') found.add('network-policy-change');
  if (top === 'spec') detectPodSpecChange(item, segments, settings, found);
  return [...found];
}
