import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { generateKeyPair } from '@flotilla/protocol';
import { AuditLog } from '../../../src/features/audit/audit-log.ts';
import { AuditSchedule } from '../../../src/features/audit/audit-schedule.ts';
import { RefusalRecorder } from '../../../src/features/audit/refusal-recorder.ts';
import { SOLE_REPLICA, type OnceOnly } from '../../../src/features/replicas/replica-lease.ts';
import { openDatabase, type Db } from '../../../src/store/database.ts';

/** A replica that never holds the lease: another one does the once-only work. */
const FOLLOWER: OnceOnly = { run: () => undefined, held: () => false };

describe('the audit schedule on replicas', () => {
  let dir: string;
  let db: Db;
  let audit: AuditLog;

  beforeEach(() => {
    vi.useFakeTimers();
    dir = mkdtempSync(join(tmpdir(), 'flotilla-audit-schedule-'));
    db = openDatabase(join(dir, 'hub.db'));
    audit = new AuditLog({ db, clock: () => Date.now(), signer: generateKeyPair() });
  });

  afterEach(() => {
    vi.useRealTimers();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function schedule(once: OnceOnly): AuditSchedule {
    const failures = {
      report: (error: unknown) => {
        throw error;
      },
    };
    const log = pino({ level: 'silent' });
    const refusals = new RefusalRecorder({ audit, clock: () => Date.now(), log, failures });
    return new AuditSchedule({
      audit,
      refusals,
      clock: () => Date.now(),
      log,
      checkpointIntervalMs: 1_000,
      retentionMs: undefined,
      failures,
      once,
    });
  }

  function append(): void {
    audit.append({ actor: { kind: 'user', id: 'alice' }, action: 'target.label', subjects: [], outcome: 'success' });
  }

  it('signs checkpoints on the replica holding the lease', () => {
    const leader = schedule(SOLE_REPLICA);
    leader.start();
    append();
    vi.advanceTimersByTime(1_000);
    expect(audit.latestCheckpoint()?.reason).toBe('interval');
    leader.stop();
  });

  it('signs none on a replica without the lease, not even when it stops', () => {
    const follower = schedule(FOLLOWER);
    follower.start();
    append();
    vi.advanceTimersByTime(5_000);
    follower.close();
    expect(audit.latestCheckpoint()).toBeUndefined();
  });
});
