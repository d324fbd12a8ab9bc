import { z } from 'zod';

/**
 * The places where a test may have a hub or agent process killed, to check that a crash there
 * loses or doubles nothing. Each names the process, the step, and which side of it.
 */
export const FAULT_POINTS = {
  /** Agent: a driver has just written one resource (a manifest file, a Kubernetes object). */
  'apply:after': 'after a driver wrote one resource',
  /** Agent: the hub acknowledged a report that the journal has not removed yet. */
  'report:after-send': 'after the hub acknowledged a report, before the journal forgets it',
  /** Hub: a report's writes are done and its transaction not yet committed. */
  'report:before-commit': 'inside the transaction that stores a report, before it commits',
  /** Hub's report worker thread: about to read one report handed to it; the thread ends, not the process. */
  'report:worker-read': 'in a report worker thread, before reading a report handed to it (ends the thread)',
  /** Hub: one batch of a report prune is removed, inside its transaction. */
  'report-retention:batch': "after removing one batch of reports past retention, inside the batch's transaction",
  /** Hub: a rollout step's writes are done and its transaction not yet committed. */
  'rollout:before-commit': 'inside the transaction of one rollout step, before it commits',
  /** Hub: one slice of a wave's members is recorded and more wait for the next slice, inside its step's transaction. */
  'rollout:enlist': "after recording one slice of a wave's members, more to come, inside its step's transaction",
  /** Hub: one member's envelope of a wave is staged, inside its batch's transaction. */
  'rollout:issue': "after staging one member's envelope, inside its batch's transaction",
  /** Hub's WAL checkpoint worker thread: the WAL changed and a checkpoint is about to run; kills the whole hub. */
  'wal-checkpoint:start':
    'in the WAL checkpoint worker thread, about to checkpoint while the hub writes (kills the hub)',
  /** Hub's WAL checkpoint worker thread: about to checkpoint; the thread ends, not the process. */
  'wal-checkpoint:worker': 'in the WAL checkpoint worker thread, about to checkpoint (ends the thread)',
  /** Hub: one slice of the free pages a prune left is given back to the file system, and committed. */
  'free-pages:slice': 'after giving one slice of free pages back to the file system, once it committed',
  /** `flotilla store copy`: one batch of rows is written to the target, inside the copy's transaction. */
  'store-copy:batch': "after writing one batch of rows to the target, inside the copy's transaction",
  /** Agent: a drift policy fetched is in a temporary file, not yet renamed to its digest's name. */
  'drift-policy:before-rename':
    'after writing a fetched drift policy to a temporary file, before renaming it into place',
} as const;
export type FaultPoint = keyof typeof FAULT_POINTS;

/** One armed fault: crash at the `hit`-th time the process reaches `point`. */
export interface ArmedFault {
  readonly point: FaultPoint;
  readonly hit: number;
}

const POINT_NAMES = Object.keys(FAULT_POINTS) as [FaultPoint, ...FaultPoint[]];

/**
 * `FLOTILLA_FAULT` as a test writes it: `point:N`, comma-separated, such as `apply:after:800`
 * (crash right after the 800th resource written). The point is everything before the last colon.
 */
export const FaultSpec = z.string().transform((text, ctx): ArmedFault[] => {
  const armed: ArmedFault[] = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const colon = part.lastIndexOf(':');
    const point = z.enum(POINT_NAMES).safeParse(part.slice(0, colon));
    const hit = Number(part.slice(colon + 1));
    if (colon < 0 || !point.success || !Number.isInteger(hit) || hit < 1) {
      ctx.addIssue({
        code: 'custom',
        message: `a fault is point:N with N >= 1 and point one of ${POINT_NAMES.join(', ')}; received '${part}'`,
      });
      return z.NEVER;
    }
    armed.push({ point: point.data, hit });
  }
  return armed;
});

/**
 * Test-only crash points. Code calls `reach` at each point; unless a fault is armed there it
 * does nothing but count, and with no fault armed at all it does not even count.
 */
export interface FaultPoints {
  reach(point: FaultPoint): void;
  /** The faults armed, for a worker thread to arm its own points with; none when absent. */
  readonly armed?: readonly ArmedFault[];
}

/** The fault points of a process with no fault armed: what production runs. */
export const NO_FAULTS: FaultPoints = { reach: () => undefined };

/**
 * Fault points that call `crash` (which kills the process) the `hit`-th time a point is
 * reached. Pure: the caller supplies the crash, so the counting is testable.
 *
 * @example faultPoints(FaultSpec.parse('apply:after:800'), () => process.kill(process.pid, 'SIGKILL'))
 */
export function faultPoints(
  armed: readonly ArmedFault[],
  crash: (point: FaultPoint, hit: number) => void,
): FaultPoints {
  if (armed.length === 0) return NO_FAULTS;
  const counts = new Map<FaultPoint, number>();
  return {
    armed,
    reach(point) {
      const count = (counts.get(point) ?? 0) + 1;
      counts.set(point, count);
      if (armed.some((fault) => fault.point === point && fault.hit === count)) crash(point, count);
    },
  };
}
