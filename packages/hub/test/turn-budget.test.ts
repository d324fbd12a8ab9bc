import { setImmediate as turnEnd, setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { serveConfig } from '../src/config.ts';
import { TURN_BUDGET_MS, TurnBudget } from '../src/turn-budget.ts';

/**
 * Past the turn a test's charges were in and the check that follows its end: a sleep alone
 * can end in the same timers phase as the turn, before the work waiting for it runs.
 */
async function turnsLater(): Promise<void> {
  await sleep(5);
  await turnEnd();
}

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
    expect(budget.fits(0)).toBe(true);
    budget.charge(35);
    expect(budget.left()).toBe(0);
    expect(budget.fits(0)).toBe(false);
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
    expect(budget.left()).toBe(0);
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
    // A limit far above the work: a machine that stalls the test's thread makes the work longer, never the budget spent.
    const budget = new TurnBudget(10_000);
    const outer = budget.timed(() => {
      busy(5);
      budget.time(() => busy(20));
    }).ms;
    // Charged twice, the inner 20 ms would be counted again.
    expect(10_000 - budget.left() - outer).toBeLessThan(1);
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

  it('lets work of no stated length start while the turn is not spent, first in a turn or not', () => {
    const budget = new TurnBudget(50);
    budget.charge(49);
    expect(budget.fits(0)).toBe(true);
    budget.charge(1);
    expect(budget.fits(0)).toBe(false);
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

describe('work that waits for room in a turn', () => {
  it('runs at a check of this turn while the budget has room, after the code that asked', async () => {
    const budget = new TurnBudget(50);
    const ran: string[] = [];
    budget.whenRoom(0, () => ran.push('waited'));
    ran.push('asked');
    await turnEnd();
    expect(ran).toEqual(['asked', 'waited']);
    budget.close();
  });

  // The turn's timer may fire before the first check on a busy machine: these tests assert in
  // which turn the work ran and what was left of it, which hold either way.
  it('waits while the turn is spent, and runs in the next turn with the budget whole', async () => {
    const budget = new TurnBudget(50);
    budget.charge(60);
    const first = budget.turn;
    let ran: { turn: number; left: number } | undefined;
    budget.whenRoom(0, () => {
      ran = { turn: budget.turn, left: budget.left() };
    });
    await turnsLater();
    expect(ran).toEqual({ turn: first + 1, left: 50 });
    budget.close();
  });

  it('does not look again at waiting work before the turn is over', async () => {
    const budget = new TurnBudget(50);
    budget.charge(60);
    let looks = 0;
    budget.whenRoom(
      () => {
        looks++;
        return 0;
      },
      () => {},
    );
    await turnsLater();
    // A look when asked and one in the next turn: no check in between spins on it.
    expect(looks).toBeLessThanOrEqual(2);
    budget.close();
  });

  it('starts work that cannot be cut short only where what it takes fits, or first in a turn', async () => {
    const budget = new TurnBudget(50);
    budget.charge(30);
    const first = budget.turn;
    const ran = new Map<string, { turn: number; left: number }>();
    budget.whenRoom(40, () => ran.set('long', { turn: budget.turn, left: budget.left() }));
    budget.whenRoom(10, () => ran.set('short', { turn: budget.turn, left: budget.left() }));
    await turnsLater();
    expect(ran.get('long')).toEqual({ turn: first + 1, left: 50 });
    expect(ran.get('short')?.turn).toBeLessThanOrEqual(first + 1);
    budget.close();
  });

  it('reads what the work expects to take when it looks, not when it was asked', async () => {
    const budget = new TurnBudget(50);
    let expected = 20;
    let ran: { turn: number; left: number } | undefined;
    budget.charge(10);
    const first = budget.turn;
    budget.whenRoom(
      () => expected,
      () => {
        ran = { turn: budget.turn, left: budget.left() };
      },
    );
    expected = 80;
    await turnsLater();
    // Had it read 20, it would have run in the first turn, with 40 left.
    expect(ran).toEqual({ turn: first + 1, left: 50 });
    budget.close();
  });

  it('runs waiting work oldest first, each charged, and leaves work asked for meanwhile to a later check', async () => {
    const budget = new TurnBudget(50);
    const ran: string[] = [];
    budget.whenRoom(0, () => {
      ran.push('a');
      budget.whenRoom(0, () => ran.push('c'));
    });
    budget.whenRoom(0, () => ran.push('b'));
    await turnEnd();
    expect(ran).toEqual(['a', 'b']);
    await turnEnd();
    expect(ran).toEqual(['a', 'b', 'c']);
    budget.close();
  });

  it('stops work from running once it is cancelled, also by work that ran before it', async () => {
    const budget = new TurnBudget(50);
    const ran: string[] = [];
    const cancelLater = { cancel: (): void => {} };
    budget.whenRoom(0, () => {
      ran.push('first');
      cancelLater.cancel();
    });
    cancelLater.cancel = budget.whenRoom(0, () => ran.push('second'));
    const cancelled = budget.whenRoom(0, () => ran.push('third'));
    cancelled();
    await turnsLater();
    expect(ran).toEqual(['first']);
    budget.close();
  });

  it('drops the waiting work when closed', async () => {
    const budget = new TurnBudget(50);
    let ran = false;
    budget.whenRoom(0, () => {
      ran = true;
    });
    budget.close();
    await turnsLater();
    expect(ran).toBe(false);
  });
});
