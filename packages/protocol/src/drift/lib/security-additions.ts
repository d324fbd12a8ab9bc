import { emit, type DiffSink } from './diff-sink.ts';
import { isJsonObject, isUnset, type JsonObject } from './json-value.ts';

/** Where a pod spec sits in the workload kinds: Pod, the templated kinds, CronJob. */
const POD_SPEC_PATHS: readonly (readonly string[])[] = [
  ['spec'],
  ['spec', 'template', 'spec'],
  ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
];

const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'] as const;

/** Pod-level switches that share a host namespace with the node. */
const HOST_NAMESPACES = ['hostNetwork', 'hostPID', 'hostIPC'] as const;

function at(root: JsonObject, path: readonly string[]): JsonObject | undefined {
  let current: unknown = root;
  for (const key of path) {
    if (!isJsonObject(current)) return undefined;
    current = current[key];
  }
  return isJsonObject(current) ? current : undefined;
}

function byName(list: unknown): Map<string, JsonObject> {
  const map = new Map<string, JsonObject>();
  if (!Array.isArray(list)) return map;
  for (const item of list) {
    if (isJsonObject(item) && typeof item.name === 'string' && !map.has(item.name)) map.set(item.name, item);
  }
  return map;
}

/**
 * The exceptions to "only fields the desired resource sets are compared": additions an
 * attacker or a careless edit would make to gain privilege are reported as `added` even
 * though the desired resource is silent about them. In each pod spec: added containers,
 * added host namespaces, hostPath volumes, and anything under a securityContext.
 */
export function walkSecurityAdditions(sink: DiffSink, desired: JsonObject, live: JsonObject): void {
  for (const path of POD_SPEC_PATHS) {
    const livePod = at(live, path);
    const desiredPod = at(desired, path);
    // `spec` is a pod spec only for a Pod; other kinds' `spec` has no containers list.
    if (livePod === undefined || desiredPod === undefined || !Array.isArray(livePod.containers)) continue;
    for (const key of path) sink.stack.push(key);
    walkPodSpec(sink, desiredPod, livePod);
    for (let i = 0; i < path.length; i++) sink.stack.pop();
  }
}

function walkPodSpec(sink: DiffSink, desired: JsonObject, live: JsonObject): void {
  for (const field of HOST_NAMESPACES) {
    if (isUnset(desired[field]) && live[field] === true) {
      sink.stack.push(field);
      emit(sink, 'added', undefined, true);
      sink.stack.pop();
    }
  }

  sink.stack.push('securityContext');
  walkStrict(sink, desired.securityContext, live.securityContext);
  sink.stack.pop();

  if (Array.isArray(live.volumes)) {
    const desiredVolumes = byName(desired.volumes);
    sink.stack.push('volumes');
    for (const volume of live.volumes) {
      if (!isJsonObject(volume) || typeof volume.name !== 'string' || isUnset(volume.hostPath)) continue;
      const wanted = desiredVolumes.get(volume.name);
      sink.stack.push({ item: volume, fields: ['name'] });
      if (wanted === undefined) emit(sink, 'added', undefined, volume);
      else if (isUnset(wanted.hostPath)) {
        sink.stack.push('hostPath');
        emit(sink, 'added', undefined, volume.hostPath);
        sink.stack.pop();
      }
      sink.stack.pop();
    }
    sink.stack.pop();
  }

  for (const list of CONTAINER_LISTS) {
    const liveContainers = live[list];
    if (!Array.isArray(liveContainers)) continue;
    const desiredContainers = byName(desired[list]);
    sink.stack.push(list);
    for (const container of liveContainers) {
      if (!isJsonObject(container) || typeof container.name !== 'string') continue;
      const wanted = desiredContainers.get(container.name);
      sink.stack.push({ item: container, fields: ['name'] });
      if (wanted === undefined) emit(sink, 'added', undefined, container);
      else {
        sink.stack.push('securityContext');
        walkStrict(sink, wanted.securityContext, container.securityContext);
        sink.stack.pop();
      }
      sink.stack.pop();
    }
    sink.stack.pop();
  }
}

/**
 * Reports every live leaf the desired object lacks. Values both sides have were compared by
 * the main walk already, so only one-sided fields are reported here, down to the leaf so that
 * the path names the exact field (`...securityContext.privileged`).
 */
function walkStrict(sink: DiffSink, desired: unknown, live: unknown): void {
  if (!isJsonObject(live)) return;
  const wanted = isJsonObject(desired) ? desired : undefined;
  for (const key in live) {
    const l = live[key];
    if (isUnset(l)) continue;
    const d = wanted?.[key];
    if (isUnset(d)) {
      sink.stack.push(key);
      if (isJsonObject(l)) walkStrict(sink, undefined, l);
      else if (!Array.isArray(l) || l.length > 0) emit(sink, 'added', undefined, l);
      sink.stack.pop();
    } else if (isJsonObject(d) && isJsonObject(l)) {
      sink.stack.push(key);
      walkStrict(sink, d, l);
      sink.stack.pop();
    }
  }
}
