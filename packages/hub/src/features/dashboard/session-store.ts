import { randomBytes } from 'node:crypto';
import type { OperatorPrincipal } from '../../principal.ts';

/** A signed-in dashboard user: the API token it stands for never leaves the hub. */
export interface Session {
  readonly id: string;
  /** The operator API token presented at sign-in; each request re-authenticates with it, so revoking the token ends the session. */
  readonly token: string;
  /** Sent back by the page on every state-changing request (double submit). */
  readonly csrfToken: string;
  readonly principal: OperatorPrincipal;
  readonly createdAt: number;
  /** Idle expiry, pushed forward by each use, never past {@link Session.expiresAt}. */
  idleUntil: number;
  readonly expiresAt: number;
}

export interface SessionStoreOptions {
  readonly clock: () => number;
  /** A session unused this long ends; default 8 hours. */
  readonly idleMs?: number;
  /** A session ends this long after sign-in whatever its use; default 24 hours. */
  readonly maxAgeMs?: number;
  /** At most this many sessions; the oldest is dropped beyond it. Default 10,000. */
  readonly capacity?: number;
}

/**
 * Dashboard sessions, in memory: a restart signs everyone out, which is the safe failure.
 * Session ids are 256 random bits and are compared only by map lookup.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly clock: () => number;
  private readonly idleMs: number;
  private readonly maxAgeMs: number;
  private readonly capacity: number;

  constructor(options: SessionStoreOptions) {
    this.clock = options.clock;
    this.idleMs = options.idleMs ?? 8 * 60 * 60_000;
    this.maxAgeMs = options.maxAgeMs ?? 24 * 60 * 60_000;
    this.capacity = options.capacity ?? 10_000;
    if (this.idleMs <= 0 || this.maxAgeMs <= 0 || this.capacity < 1)
      throw new TypeError('SessionStore: idleMs, maxAgeMs and capacity must be positive');
  }

  get size(): number {
    return this.sessions.size;
  }

  get maxAgeSeconds(): number {
    return Math.floor(this.maxAgeMs / 1000);
  }

  create(token: string, principal: OperatorPrincipal): Session {
    const now = this.clock();
    if (this.sessions.size >= this.capacity) this.sweep(now);
    if (this.sessions.size >= this.capacity) this.sessions.delete(this.sessions.keys().next().value!);
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      token,
      csrfToken: randomBytes(32).toString('base64url'),
      principal,
      createdAt: now,
      idleUntil: Math.min(now + this.idleMs, now + this.maxAgeMs),
      expiresAt: now + this.maxAgeMs,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id, its idle expiry pushed forward; undefined when unknown or expired. */
  use(id: string): Session | undefined {
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    const now = this.clock();
    if (now >= session.idleUntil || now >= session.expiresAt) {
      this.sessions.delete(id);
      return undefined;
    }
    session.idleUntil = Math.min(now + this.idleMs, session.expiresAt);
    return session;
  }

  delete(id: string): boolean {
    return this.sessions.delete(id);
  }

  private sweep(now: number): void {
    for (const [id, session] of this.sessions)
      if (now >= session.idleUntil || now >= session.expiresAt) this.sessions.delete(id);
  }
}
