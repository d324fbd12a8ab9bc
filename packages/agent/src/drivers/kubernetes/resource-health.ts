import type { Health } from '@flotilla/protocol';
import { asRecord } from './as-record.ts';

interface HealthVerdict {
  readonly health: Health;
  readonly message?: string;
}

// Status counters are omitempty in the Go types: a missing counter is zero.
function count(status: Record<string, unknown>, name: string): number {
  const value = status[name];
  return typeof value === 'number' ? value : 0;
}

// A condition's reason and message are strings in the Go types; anything else is ignored.
function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function condition(status: Record<string, unknown>, type: string): Record<string, unknown> | undefined {
  const conditions = status['conditions'];
  if (!Array.isArray(conditions)) return undefined;
  return conditions.map(asRecord).find((c) => c['type'] === type);
}

/** A controller has not yet acted on the latest spec while observedGeneration lags generation. */
function staleGeneration(live: Record<string, unknown>, status: Record<string, unknown>): HealthVerdict | undefined {
  const generation = asRecord(live['metadata'])['generation'];
  const observed = status['observedGeneration'];
  if (typeof generation === 'number' && (typeof observed !== 'number' || observed < generation)) {
    return {
      health: 'progressing',
      message: `waiting for the controller to observe generation ${generation} (observed ${typeof observed === 'number' ? observed : 'none'})`,
    };
  }
  return undefined;
}

function deploymentHealth(live: Record<string, unknown>): HealthVerdict {
  const spec = asRecord(live['spec']);
  const status = asRecord(live['status']);
  const stale = staleGeneration(live, status);
  if (stale !== undefined) return stale;
  const progressing = condition(status, 'Progressing');
  if (progressing?.['reason'] === 'ProgressDeadlineExceeded') {
    return {
      health: 'degraded',
      message: `rollout exceeded its progress deadline: ${text(progressing['message'])}`.trim(),
    };
  }
  const replicas = typeof spec['replicas'] === 'number' ? spec['replicas'] : 1;
  const updated = count(status, 'updatedReplicas');
  const available = count(status, 'availableReplicas');
  const total = count(status, 'replicas');
  if (updated < replicas) return { health: 'progressing', message: `${updated} of ${replicas} replicas updated` };
  if (total > updated) return { health: 'progressing', message: `${total - updated} old replicas pending termination` };
  if (available < replicas)
    return { health: 'progressing', message: `${available} of ${replicas} updated replicas available` };
  return { health: 'healthy' };
}

function daemonSetHealth(live: Record<string, unknown>): HealthVerdict {
  const status = asRecord(live['status']);
  const stale = staleGeneration(live, status);
  if (stale !== undefined) return stale;
  const desired = count(status, 'desiredNumberScheduled');
  const updated = count(status, 'updatedNumberScheduled');
  const available = count(status, 'numberAvailable');
  if (updated < desired) return { health: 'progressing', message: `${updated} of ${desired} daemon pods updated` };
  if (available < desired)
    return { health: 'progressing', message: `${available} of ${desired} daemon pods available` };
  return { health: 'healthy' };
}

function statefulSetHealth(live: Record<string, unknown>): HealthVerdict {
  const spec = asRecord(live['spec']);
  const status = asRecord(live['status']);
  const stale = staleGeneration(live, status);
  if (stale !== undefined) return stale;
  const replicas = typeof spec['replicas'] === 'number' ? spec['replicas'] : 1;
  const strategy = asRecord(spec['updateStrategy'])['type'];
  const updated = count(status, 'updatedReplicas');
  const ready = count(status, 'readyReplicas');
  // OnDelete never updates pods by itself, so updated replicas say nothing about health.
  if (strategy !== 'OnDelete' && updated < replicas)
    return { health: 'progressing', message: `${updated} of ${replicas} replicas updated` };
  if (ready < replicas) return { health: 'progressing', message: `${ready} of ${replicas} replicas ready` };
  return { health: 'healthy' };
}

function jobHealth(live: Record<string, unknown>): HealthVerdict {
  const status = asRecord(live['status']);
  if (condition(status, 'Complete')?.['status'] === 'True') return { health: 'healthy' };
  const failed = condition(status, 'Failed');
  if (failed?.['status'] === 'True')
    return { health: 'degraded', message: `job failed: ${text(failed['reason'])} ${text(failed['message'])}`.trim() };
  return { health: 'progressing', message: 'job has not completed yet' };
}

function crdHealth(live: Record<string, unknown>): HealthVerdict {
  if (condition(asRecord(live['status']), 'Established')?.['status'] === 'True') return { health: 'healthy' };
  return { health: 'progressing', message: 'waiting for the CustomResourceDefinition to be established' };
}

/**
 * The health of a live object: rollouts of Deployments, DaemonSets and StatefulSets, Jobs by
 * their Complete condition, CRDs by Established; any other object that exists is healthy. An
 * object being deleted is progressing.
 */
export function resourceHealth(group: string, kind: string, live: Record<string, unknown>): HealthVerdict {
  if (asRecord(live['metadata'])['deletionTimestamp'] !== undefined)
    return { health: 'progressing', message: 'being deleted' };
  switch (`${group}/${kind}`) {
    case 'apps/Deployment':
      return deploymentHealth(live);
    case 'apps/DaemonSet':
      return daemonSetHealth(live);
    case 'apps/StatefulSet':
      return statefulSetHealth(live);
    case 'batch/Job':
      return jobHealth(live);
    case 'apiextensions.k8s.io/CustomResourceDefinition':
      return crdHealth(live);
    default:
      return { health: 'healthy' };
  }
}
