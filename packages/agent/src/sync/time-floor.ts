import type { SyncState } from '../agent-state.ts';

/**
 * How far the agent's clock may lag the hub's before it counts as running backwards: the hub
 * stamps `issuedAt` with its own clock, and clocks of two machines differ by seconds.
 */
export const CLOCK_SKEW_TOLERANCE_MS = 5 * 60_000;

/**
 * The agent's time floor: the newest `issuedAt` of an envelope whose hub signature it verified.
 * Time cannot be earlier than that for anyone who trusts the hub, so a clock set back (by an
 * attacker, or a host without a battery) cannot make an expired envelope look current again.
 */
export function timeFloorOf(sync: Pick<SyncState, 'timeFloor'>): number {
  return sync.timeFloor === undefined ? 0 : Date.parse(sync.timeFloor);
}

/** The time to judge an envelope's expiry at: the clock, or the time floor when the clock is behind it. */
export function judgementTime(clock: number, sync: Pick<SyncState, 'timeFloor'>): number {
  return Math.max(clock, timeFloorOf(sync));
}

/** Whole seconds the clock runs behind the time floor, beyond the tolerance; undefined when it does not. */
export function clockBehindSeconds(clock: number, sync: Pick<SyncState, 'timeFloor'>): number | undefined {
  const behind = timeFloorOf(sync) - clock;
  return behind > CLOCK_SKEW_TOLERANCE_MS ? Math.floor(behind / 1000) : undefined;
}

/** The sync state with its floor raised to `issuedAt`, or undefined when the floor is already there. */
export function raiseTimeFloor(sync: SyncState, issuedAt: string): SyncState | undefined {
  return Date.parse(issuedAt) > timeFloorOf(sync) ? { ...sync, timeFloor: issuedAt } : undefined;
}
