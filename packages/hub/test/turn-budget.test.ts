import { setImmediate as turnEnd, setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { TurnBudget } from '../src/turn-budget.ts';

/** Holds the thread for `ms`, as a slice of work would. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe("a turn's budget of sliced work", () => {
  it('adds up what the work of one turn was charged, and is spent at its limit', () => {
    const budget = new TurnBudget(50);
    budget.charge(20);
    expect(budget.left()).toBe(30);
    expect(budget.spent).toBe(false);
    budget.charge(35);
    expect(budget.left()).toBe(0);
    expect(budget.spent).toBe(true);
    budget.close();
  });

  it('lets work that cannot be cut short start first in a turn, or where what is left fits it', () => {
    const budget = new TurnBudget(50);
    expect(budget.fits(80)).toBe(true);
    budget.charge(20);
    expect(budget.fits(30)).toBe(true);
    expect(budget.fits(31)).toBe(false);
    budget.close();
  });

  it('stays spent for the immediates of the same turn, and starts afresh in the next', async () => {
    const budget = new TurnBudget(50);
    budget.charge(60);
    await turnEnd();
    expect(budget.spent).toBe(true);
    await sleep(5);
    expect(budget.left()).toBe(50);
    budget.close();
  });

  it('charges the time of the work it runs, even when the work throws', () => {
    const budget = new TurnBudget(50);
    budget.time(() => busy(10));
    expect(budget.left()).toBeLessThanOrEqual(40);
    expect(() =>
      budget.time(() => {
        busy(10);
        throw new Error('store failed');
      }),
    ).toThrow('store failed');
    expect(budget.left()).toBeLessThanOrEqual(30);
    budget.close();
  });

  it('charges work timed inside timed work once, with the outer', () => {
    const budget = new TurnBudget(50);
    budget.time(() => {
      busy(5);
      budget.time(() => busy(20));
    });
    // Charged twice, 5 ms would be left.
    expect(budget.left()).toBeGreaterThan(15);
    expect(budget.left()).toBeLessThanOrEqual(25);
    budget.close();
  });

  it('resolves in the next turn, whose budget is whole again', async () => {
    const budget = new TurnBudget(50);
    budget.charge(60);
    await budget.nextTurn();
    expect(budget.left()).toBe(50);
    budget.close();
  });

  it('refuses a limit that is negative or not a number', () => {
    expect(() => new TurnBudget(-1)).toThrow(/limitMs must be 0 or more/);
    expect(() => new TurnBudget(Number.NaN)).toThrow(/limitMs must be 0 or more/);
  });
});
