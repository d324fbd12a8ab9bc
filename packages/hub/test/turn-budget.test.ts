import { setImmediate as turnEnd, setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { serveConfig } from '../src/config.ts';
import { TURN_BUDGET_MS, TurnBudget } from '../src/turn-budget.ts';

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

  it('tells what each turn charged when the turn is over, once a turn', async () => {
    const turns: number[] = [];
    const budget = new TurnBudget(50, (ms) => turns.push(ms));
    budget.charge(20);
    budget.charge(45);
    await turnEnd();
    expect(turns).toEqual([]);
    await sleep(5);
    expect(turns).toEqual([65]);
    budget.charge(10);
    await sleep(5);
    expect(turns).toEqual([65, 10]);
    budget.close();
  });

  it('moves to the next turn where the budget is whole again, not at the immediates', async () => {
    const budget = new TurnBudget(50);
    const first = budget.turn;
    budget.charge(1);
    await turnEnd();
    expect(budget.turn).toBe(first);
    await sleep(5);
    expect(budget.turn).toBe(first + 1);
    budget.close();
  });

  it('gives the time of the work it runs, also when nested inside timed work', () => {
    const budget = new TurnBudget(50);
    let inner = 0;
    const outer = budget.timed(() => {
      busy(5);
      inner = budget.timed(() => busy(10)).ms;
    }).ms;
    expect(inner).toBeGreaterThanOrEqual(10);
    expect(outer).toBeGreaterThanOrEqual(15);
    expect(budget.left()).toBeLessThanOrEqual(50 - 15);
    expect(budget.left()).toBeGreaterThan(50 - 2 * 15);
    budget.close();
  });

  it('refuses a limit that is negative or not a number', () => {
    expect(() => new TurnBudget(-1)).toThrow(/limitMs must be 0 or more/);
    expect(() => new TurnBudget(Number.NaN)).toThrow(/limitMs must be 0 or more/);
  });
});

describe("the turn budget in the hub's configuration", () => {
  it('is read from --turn-budget-ms or FLOTILLA_TURN_BUDGET_MS, unset the default', () => {
    expect(serveConfig({}, { FLOTILLA_TURN_BUDGET_MS: '20' }).turnBudgetMs).toBe(20);
    expect(serveConfig({ turnBudgetMs: '80' }, { FLOTILLA_TURN_BUDGET_MS: '20' }).turnBudgetMs).toBe(80);
    expect(serveConfig({}, {}).turnBudgetMs).toBe(TURN_BUDGET_MS);
  });

  it.each(['0', '-5', 'fast', '12.5', '1001'])('refuses FLOTILLA_TURN_BUDGET_MS=%s, naming the rule', (value) => {
    expect(() => serveConfig({}, { FLOTILLA_TURN_BUDGET_MS: value })).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: expect.stringMatching(/turnBudgetMs.*whole number of milliseconds from 1 to 1000/),
      }),
    );
  });
});
