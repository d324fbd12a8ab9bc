import type { Health, ResourceStatus } from '@flotilla/protocol';

const ORDER: Record<Health, number> = { healthy: 0, unknown: 1, progressing: 2, missing: 3, degraded: 4 };

/**
 * One word for a target: the worst of its resources. A missing or failed resource makes the
 * target degraded; an empty desired state is healthy.
 */
export function healthVerdict(resources: readonly ResourceStatus[]): Health {
  let worst: Health = 'healthy';
  for (const resource of resources) {
    const health: Health = resource.status === 'failed' || resource.health === 'missing' ? 'degraded' : resource.health;
    if (ORDER[health] > ORDER[worst]) worst = health;
  }
  return worst;
}
