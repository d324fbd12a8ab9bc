import type { IncomingMessage, ServerResponse } from 'node:http';
import { FlotillaError } from '@flotilla/protocol';
import { DashboardSession, SignInRequest } from '@flotilla/protocol/api';
import type { AuditSink } from '../../audit-sink.ts';
import { requireOperator, type Authenticator, type TargetScope } from '../../http/auth.ts';
import { readJson } from '../../http/body.ts';
import { sendEmpty, sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import type { Dashboard } from './dashboard.ts';
import { assertSameOrigin, isSecureRequest, readCookie, SESSION_COOKIE, sessionCookie } from './cookie-auth.ts';
import type { LiveEvent } from './live-events.ts';
import { liveEventFilter, type EventTargets } from './scoped-events.ts';
import type { Session } from './session-store.ts';

/** The dashboard's page routes: each answers the same page shell, which routes in the browser. */
export const DASHBOARD_PAGES = [
  '/',
  '/sign-in',
  '/targets',
  '/targets/:id',
  '/rollouts',
  '/rollouts/:id',
  '/drift',
  '/audit',
] as const;

const HEARTBEAT_MS = 15_000;
/** A stream whose client reads slower than this much backlog is cut; it resumes with Last-Event-ID. */
const STREAM_BACKLOG_LIMIT = 1024 * 1024;

export interface DashboardRoutesDeps {
  readonly auth: Authenticator;
  readonly audit: AuditSink;
  readonly dashboard: Dashboard;
  readonly scope: TargetScope;
  readonly targets: EventTargets;
  readonly clock: () => number;
}

function sessionView(session: Session): DashboardSession {
  return {
    name: session.principal.name,
    role: session.principal.role,
    csrfToken: session.csrfToken,
    expiresAt: new Date(session.expiresAt).toISOString(),
    ...(session.principal.scope === undefined ? {} : { scope: session.principal.scope }),
  };
}

function callerOf(req: IncomingMessage): { remote: string; request: string } {
  return {
    remote: req.socket.remoteAddress ?? 'unknown',
    request: `${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0]!.slice(0, 256)}`,
  };
}

function writeEvent(res: ServerResponse, event: LiveEvent): boolean {
  return res.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
}

/**
 * The dashboard (docs/dashboard.md): its pages and files at `/`, sign-in and sign-out
 * (`/v1/session`), and the live event stream (`/v1/events`).
 */
export function dashboardRoutes(
  router: Router,
  { auth, audit, dashboard, scope, targets, clock }: DashboardRoutesDeps,
): void {
  for (const page of DASHBOARD_PAGES) router.on('GET', page, ({ req, res }) => dashboard.assets.sendPage(req, res));

  router.on('GET', '/assets/:file', ({ req, res, params }) => {
    if (!dashboard.assets.sendAsset(req, res, params['file']!))
      throw new FlotillaError('NOT_FOUND', `no dashboard file ${params['file']!.slice(0, 128)}`);
  });

  router.on('POST', '/v1/session', async ({ req, res }) => {
    assertSameOrigin(req);
    const { token } = await readJson(req, SignInRequest);
    const principal = auth.authenticateOperator(token, callerOf(req));
    const session = dashboard.sessions.create(token, principal);
    audit.append({
      actor: { kind: 'user', id: principal.name },
      action: 'dashboard.sign-in',
      subjects: [],
      outcome: 'success',
      details: { tokenId: principal.tokenId, role: principal.role, remote: req.socket.remoteAddress ?? 'unknown' },
    });
    sendJson(res, 201, DashboardSession, sessionView(session), {
      'set-cookie': sessionCookie(session.id, dashboard.sessions.maxAgeSeconds, isSecureRequest(req)),
      'cache-control': 'no-store',
    });
  });

  router.on('GET', '/v1/session', ({ req, res }) => {
    const session = dashboard.cookies.sessionOf(req);
    if (session === undefined)
      throw new FlotillaError('UNAUTHENTICATED', 'no dashboard session: sign in with an API token');
    // The token behind the session must still be good; the session itself names no targets.
    requireOperator(auth, req, 'viewer', { scoped: true });
    sendJson(res, 200, DashboardSession, sessionView(session), { 'cache-control': 'no-store' });
  });

  router.on('DELETE', '/v1/session', ({ req, res }) => {
    const session = dashboard.cookies.sessionOf(req);
    const clear = { 'set-cookie': sessionCookie('', 0, isSecureRequest(req)) };
    if (session === undefined) {
      // Signing out without a session still clears whatever cookie the browser holds.
      if (readCookie(req.headers.cookie, SESSION_COOKIE) === undefined)
        throw new FlotillaError('UNAUTHENTICATED', 'no dashboard session to sign out of');
      sendEmpty(res, 204, clear);
      return;
    }
    dashboard.sessions.delete(session.id);
    audit.append({
      actor: { kind: 'user', id: session.principal.name },
      action: 'dashboard.sign-out',
      subjects: [],
      outcome: 'success',
      details: { tokenId: session.principal.tokenId },
    });
    sendEmpty(res, 204, clear);
  });

  router.on('GET', '/v1/events', ({ req, res, query }) => {
    const principal = requireOperator(auth, req, 'viewer', { scoped: true });
    const carries = liveEventFilter(scope.within(principal), targets, clock);
    if (dashboard.openStreams >= dashboard.maxStreams) {
      throw new FlotillaError(
        'HUB_UNAVAILABLE',
        `the hub already serves ${dashboard.maxStreams} event streams; retry later`,
      );
    }
    const lastEventId = req.headers['last-event-id'] ?? query.get('lastEventId') ?? undefined;
    const events = dashboard.events;
    // Entries committed before the client asked are announced before its replay is cut.
    events.pollAudit();
    const replay = typeof lastEventId === 'string' && lastEventId !== '' ? events.since(lastEventId) : [];
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.write('retry: 2000\n\n');
    if (replay === undefined) res.write(`id: ${events.lastId}\nevent: reset\ndata: {}\n\n`);
    else for (const event of replay) if (carries(event)) writeEvent(res, event);
    // Where the stream stands: a client that drops before any event arrives resumes from here.
    res.write(`id: ${events.lastId}\nevent: ready\ndata: {}\n\n`);
    const forget = dashboard.track(res);
    const cut = (): void => {
      res.end();
    };
    const unsubscribe = events.subscribe((event) => {
      if (!carries(event)) return;
      if (!writeEvent(res, event) && res.writableLength > STREAM_BACKLOG_LIMIT) cut();
    });
    const heartbeat = setInterval(() => {
      try {
        // A token revoked while the stream is open ends it at the next beat.
        requireOperator(auth, req, 'viewer', { scoped: true });
        res.write(': beat\n\n');
      } catch {
        cut();
      }
    }, HEARTBEAT_MS);
    heartbeat.unref();
    res.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      forget();
    });
  });
}
