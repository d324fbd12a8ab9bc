import type { ReportPhase } from '@flotilla/protocol';

/**
 * Where syncing stands: `starting` until the first pass, then the phase of the last report
 * (`idle` when nothing was ever assigned, `applied` once the desired state is in place, `failed`
 * while an apply is retried, `stalled` while a refused envelope waits for a newer generation).
 */
export type SyncPhase = 'starting' | ReportPhase;

/** The sync loop's state, as the health endpoint and tests read it. */
export interface SyncStatus {
  readonly appliedGeneration: number;
  readonly phase: SyncPhase;
  readonly lastError: string | undefined;
}
