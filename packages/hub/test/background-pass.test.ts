import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { BackgroundPass } from '../src/background-pass.ts';

describe('a background pass', () => {
  it('runs one pass at a time: asked again while one is under way, it joins it', async () => {
    let passes = 0;
    const pass = new BackgroundPass(async () => {
      passes++;
      await sleep(5);
      return passes;
    });
    const [a, b] = await Promise.all([pass.run(), pass.run()]);
    expect([a, b, passes]).toEqual([1, 1, 1]);
    expect(await pass.run()).toBe(2);
  });

  it('asks now and then on its timer, until closed', async () => {
    const pass = new BackgroundPass(async () => undefined);
    let ticks = 0;
    pass.every(5, () => ticks++);
    expect(ticks).toBe(1);
    await sleep(30);
    await pass.close();
    const closedAt = ticks;
    expect(closedAt).toBeGreaterThan(1);
    await sleep(20);
    expect(ticks).toBe(closedAt);
  });

  it('on close, waits for the pass under way, which sees it is stopping, and lets a failed pass go', async () => {
    const seen: boolean[] = [];
    const pass: BackgroundPass<void> = new BackgroundPass(async () => {
      await sleep(10);
      seen.push(pass.stopping);
      throw new Error('the store failed');
    });
    const running = pass.run().catch(() => undefined);
    expect(pass.busy).toBe(true);
    await pass.close();
    expect(seen).toEqual([true]);
    expect(pass.busy).toBe(false);
    await running;
  });
});
