import { describe, expect, it } from 'vitest';
import { SessionStore } from '../../../src/features/dashboard/session-store.ts';

const principal = { kind: 'user', tokenId: 'tok_1', name: 'ada', role: 'viewer' } as const;
const HOUR = 60 * 60_000;

function store(options: { idleMs?: number; maxAgeMs?: number; capacity?: number } = {}): {
  sessions: SessionStore;
  advance: (ms: number) => void;
} {
  let now = 1_700_000_000_000;
  return { sessions: new SessionStore({ clock: () => now, ...options }), advance: (ms) => (now += ms) };
}

describe('dashboard sessions', () => {
  it('end after the idle time without use', () => {
    const { sessions, advance } = store({ idleMs: HOUR });
    const session = sessions.create('fl_token_secret', principal);
    advance(HOUR - 1);
    expect(sessions.use(session.id)).toBe(session);
    advance(HOUR - 1);
    expect(sessions.use(session.id)).toBe(session);
    advance(HOUR);
    expect(sessions.use(session.id)).toBeUndefined();
  });

  it('end at their maximum age however much they are used', () => {
    const { sessions, advance } = store({ idleMs: HOUR, maxAgeMs: 3 * HOUR });
    const session = sessions.create('fl_token_secret', principal);
    for (let i = 0; i < 5; i++) {
      advance(HOUR / 2);
      expect(sessions.use(session.id)).toBe(session);
    }
    advance(HOUR / 2);
    expect(sessions.use(session.id)).toBeUndefined();
  });

  it('have unguessable ids and CSRF tokens of 256 bits, different for each session', () => {
    const { sessions } = store();
    const a = sessions.create('fl_token_secret', principal);
    const b = sessions.create('fl_token_secret', principal);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set([a.id, b.id, a.csrfToken, b.csrfToken]).size).toBe(4);
  });

  it('stay bounded: past capacity the oldest session is dropped, expired ones first', () => {
    const { sessions, advance } = store({ capacity: 2, idleMs: HOUR });
    const old = sessions.create('t1-secret', principal);
    advance(2 * HOUR);
    const second = sessions.create('t2-secret', principal);
    const third = sessions.create('t3-secret', principal);
    expect(sessions.size).toBe(2);
    expect(sessions.use(old.id)).toBeUndefined();
    const fourth = sessions.create('t4-secret', principal);
    expect(sessions.use(second.id)).toBeUndefined();
    expect(sessions.use(third.id)).toBe(third);
    expect(sessions.use(fourth.id)).toBe(fourth);
  });

  it('refuses options that would make sessions meaningless', () => {
    expect(() => new SessionStore({ clock: Date.now, idleMs: 0 })).toThrow(TypeError);
  });
});
