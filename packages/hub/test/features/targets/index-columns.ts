import type { Target } from '@flotilla/protocol';
import { targetTimes } from '@flotilla/protocol/query';
import type { FleetIndexColumns } from '../../../src/features/targets/fleet-index.ts';

/** The fleet index's columns of a target, as the store hands them to the index. */
export function indexColumns(target: Target): FleetIndexColumns {
  const times = targetTimes(target);
  return {
    id: target.id,
    name: target.name,
    status: target.status,
    lastSeen: times.lastSeenAt,
    lastChanged: times.lastChangedAt,
    enrolled: times.enrolledAt,
  };
}
