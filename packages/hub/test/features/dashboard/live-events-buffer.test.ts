import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LiveEvents } from '../../../src/features/dashboard/live-events.ts';

function events(capacity: number): LiveEvents {
  const audit = {
    head: { seq: 0 },
    query: () => ({ entries: [], next: null }),
  } as unknown as ConstructorParameters<typeof LiveEvents>[0]['audit'];
  return new LiveEvents({ audit, log: pino({ level: 'silent' }), pollMs: 0, capacity });
}

describe('the live events kept for a client that reconnects', () => {
  it('replays at least the last capacity events, in order, however many were published', () => {
    const live = events(32);
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) {
      live.publish('audit', { i });
      ids.push(live.lastId);
    }
    const replayed = live.since(ids.at(-33)!);
    expect(replayed?.map((e) => e.data['i'])).toEqual(Array.from({ length: 32 }, (_, k) => 968 + k));
  });

  it('answers an id older than what it holds with a reset, never a partial replay', () => {
    const live = events(32);
    const first = live.lastId;
    for (let i = 0; i < 1000; i++) live.publish('audit', { i });
    expect(live.since(first)).toBeUndefined();
  });
});
