import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { FlotillaError } from '@flotilla/protocol';
import type { Session, SessionStore } from './session-store.ts';

/** The session cookie's name. */
export const SESSION_COOKIE = 'flotilla_session';
/** The header that carries the session's CSRF token on state-changing requests. */
export const CSRF_HEADER = 'x-flotilla-csrf';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** One cookie's value from a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Whether the request reached the hub over TLS, directly or (as a proxy says) in front of it. */
export function isSecureRequest(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true || req.headers['x-forwarded-proto'] === 'https';
}

/** The Set-Cookie value that opens a session, or (with `maxAgeSeconds` 0) clears it. */
export function sessionCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Refuses a cross-site request: when the browser names an Origin, it must be this hub's.
 * Browsers send Origin on every cross-origin request and on same-origin unsafe ones.
 */
export function assertSameOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const host = req.headers.host;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    originHost = '';
  }
  if (host === undefined || originHost !== host) {
    throw new FlotillaError(
      'CSRF_TOKEN_INVALID',
      `a request from origin ${origin.slice(0, 128)} cannot use this hub's session; open the dashboard from the hub's own address`,
    );
  }
}

/**
 * Lets the API routes authenticate a dashboard session like an API token. A request without
 * an Authorization header but with a live session cookie gets the session's token as its
 * bearer; a state-changing one must also carry the session's CSRF token in
 * `x-flotilla-csrf` and come from the hub's own origin, so another site cannot act through
 * the cookie. Requests with an Authorization header are left alone: a browser never adds one
 * cross-site by itself.
 */
export class CookieAuth {
  private readonly sessions: SessionStore;
  private readonly byRequest = new WeakMap<IncomingMessage, Session>();

  constructor(sessions: SessionStore) {
    this.sessions = sessions;
  }

  apply(req: IncomingMessage): void {
    const cookies = req.headers.cookie;
    if (cookies === undefined || req.headers.authorization !== undefined) return;
    const id = readCookie(cookies, SESSION_COOKIE);
    if (id === undefined || id === '') return;
    const session = this.sessions.use(id);
    if (session === undefined) return;
    if (!SAFE_METHODS.has(req.method ?? 'GET')) {
      assertSameOrigin(req);
      const sent = req.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !sameText(sent, session.csrfToken)) {
        throw new FlotillaError(
          'CSRF_TOKEN_INVALID',
          `a state-changing request signed in by cookie needs the session's CSRF token in the ${CSRF_HEADER} header; reload the dashboard`,
        );
      }
    }
    req.headers.authorization = `Bearer ${session.token}`;
    this.byRequest.set(req, session);
  }

  /** The session a request was authenticated with, if it came by cookie. */
  sessionOf(req: IncomingMessage): Session | undefined {
    return this.byRequest.get(req);
  }
}
