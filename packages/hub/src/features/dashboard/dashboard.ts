import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { CookieAuth } from './cookie-auth.ts';
import { LiveEvents, type AuditTail } from './live-events.ts';
import { SessionStore } from './session-store.ts';
import { StaticAssets } from './static-assets.ts';

/**
 * The built dashboard: the `dist/` of the `@flotilla/dashboard` package, which `npm ci` builds
 * in a clone (packages/dashboard/dist) and an installed hub has beside it in node_modules.
 */
export const DEFAULT_DASHBOARD_DIR = join(
  dirname(createRequire(import.meta.url).resolve('@flotilla/dashboard/package.json')),
  'dist',
);

export interface DashboardOptions {
  readonly audit: AuditTail;
  readonly log: Logger;
  readonly clock: () => number;
  /** The built dashboard; default packages/dashboard/dist. */
  readonly assetsDir?: string;
  /** How often committed audit entries are streamed; default 250 ms, 0 never (tests poll by hand). */
  readonly eventPollMs?: number;
  /** Most event streams open at once; default 1,000. */
  readonly maxStreams?: number;
}

/**
 * The dashboard's hub side: its built files, sign-in sessions and their cookie
 * authentication, and the live event stream.
 */
export class Dashboard {
  readonly assets: StaticAssets;
  readonly sessions: SessionStore;
  readonly cookies: CookieAuth;
  readonly events: LiveEvents;
  readonly maxStreams: number;
  private readonly streams = new Set<ServerResponse>();

  constructor(options: DashboardOptions) {
    this.assets = new StaticAssets(options.assetsDir ?? DEFAULT_DASHBOARD_DIR);
    if (!this.assets.built)
      options.log.warn({ dir: this.assets.dir }, 'dashboard assets are missing; / explains how to build them');
    this.sessions = new SessionStore({ clock: options.clock });
    this.cookies = new CookieAuth(this.sessions);
    this.events = new LiveEvents({
      audit: options.audit,
      log: options.log,
      ...(options.eventPollMs === undefined ? {} : { pollMs: options.eventPollMs }),
    });
    this.maxStreams = options.maxStreams ?? 1_000;
  }

  /** Gives a request that carries a session cookie the session's credentials (see {@link CookieAuth}). */
  authorize(req: IncomingMessage): void {
    this.cookies.apply(req);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Keeps an open event stream so that closing the hub ends it. Returns the function that forgets it. */
  track(res: ServerResponse): () => void {
    this.streams.add(res);
    return () => this.streams.delete(res);
  }

  /** Ends every event stream and stops reading the audit log: the hub is closing. */
  close(): void {
    this.events.close();
    for (const res of this.streams) res.end();
    this.streams.clear();
  }
}
