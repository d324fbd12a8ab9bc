import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import WebSocket, { type RawData } from 'ws';
import { messageOf } from '@flotilla/protocol';
import { HubStreamMessage, STREAM_CLOSE } from '@flotilla/protocol/api';
import { Backoff } from '../backoff.ts';
import type { HubEndpoints } from '../hub-endpoints.ts';

/**
 * Where the stream stands: `open` (notices arrive), `connecting` (first attempt, or again after
 * a failure), `waiting` (between attempts: the hub is away, restarting or shedding load),
 * `refused` (something between agent and hub answered the upgrade with plain HTTP: use
 * long-polls until `fallbackMs` passed), `stopped`.
 */
export type StreamState = 'connecting' | 'open' | 'waiting' | 'refused' | 'stopped';

export interface HubStreamOptions {
  /** The hub replicas: the stream opens at the current one, and a replica that drops it or is down moves it to the next. */
  readonly endpoints: HubEndpoints;
  readonly targetId: string;
  /** The current access token; renewed by its provider, re-sent on the open stream when it changes. */
  readonly token: () => Promise<string>;
  /** Forgets the access token after the hub refused it. */
  readonly invalidateToken: () => void;
  /** The ETag of the envelope the agent holds: a hello naming another one counts as a change. */
  readonly etag: () => string | undefined;
  readonly log: Logger;
  /** After the hub closed the stream for a restart, reconnect at a uniformly random moment within this; default 30 s. */
  readonly reconnectWindowMs?: number;
  /** Backoff after failed attempts (hub unreachable); default 1 s doubling to 60 s, full jitter. */
  readonly backoff?: Backoff;
  /** After an upgrade was refused by a proxy, long-poll this long before trying the stream again; default 10 min. */
  readonly fallbackMs?: number;
  /** How long an attempt may take to open; default 60 s (giving up sooner on a busy hub only adds to its queue). */
  readonly connectTimeoutMs?: number;
  readonly random?: () => number;
}

/** How one attempt ended, which decides what happens next; `url` is the replica it went to. */
type Ending = { readonly url: string } & (
  | { readonly kind: 'refused'; readonly status: number; readonly retryAfterMs: number | undefined }
  | { readonly kind: 'closed'; readonly code: number; readonly opened: boolean }
  /** `beforeConnecting`: no access token to open it with (its request failed over on its own). */
  | { readonly kind: 'failed'; readonly error: string; readonly beforeConnecting?: true }
);

/** Close codes of a stream that ended without the hub closing it: the socket dropped (1006) or the replica went away (1001, restarting). */
const DROPPED = new Set<number>([1006, 1001, STREAM_CLOSE.restarting]);

/**
 * The agent's end of the push stream (`GET /v1/targets/{id}/stream`). It keeps one WebSocket
 * to the hub, counts the hub's `changed` notices in {@link changes} for the pull loop, renews
 * the access token on the open stream, and answers the hub's pings (heartbeats); hearing nothing
 * for 2.5 heartbeats it drops the connection as dead. Reconnects are jittered: after a hub
 * restart at a random moment within the reconnect window, after failures with exponential
 * backoff, after a `429` at a random moment up to twice its `Retry-After`. An upgrade answered
 * with plain HTTP (a proxy that does not pass WebSockets) turns the stream `refused`, and the
 * pull loop long-polls. A replica that is down (unreachable, 502/503/504) or that drops the
 * stream moves the agent to the next of its hub replicas (`HubEndpoints`), where the stream
 * opens again after the same jittered wait.
 */
export class HubStream {
  private readonly options: HubStreamOptions;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly backoff: Backoff;
  private current: StreamState = 'connecting';
  private socket: WebSocket | undefined;
  private sentToken: string | undefined;
  private seq = 0;
  private readonly listeners = new Set<() => void>();
  /** Attempts that opened a stream, since start. */
  opens = 0;

  constructor(options: HubStreamOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'stream' });
    this.random = options.random ?? Math.random;
    this.backoff = options.backoff ?? new Backoff(1000, 60_000, this.random);
  }

  get state(): StreamState {
    return this.current;
  }

  /** Whether the upgrade was refused on the way, so changes must be long-polled for now. */
  get refused(): boolean {
    return this.current === 'refused';
  }

  /** Grows by one for each notice (and a hello naming an envelope the agent does not hold). */
  get changes(): number {
    return this.seq;
  }

  /**
   * Resolves when {@link changes} passes `seen`, the state changes, `timeoutMs` passes, or
   * `signal` aborts, whichever comes first.
   */
  async next(seen: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.seq !== seen || signal.aborted) return;
    const state = this.current;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(wake);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const wake = (): void => {
        if (this.seq !== seen || this.current !== state) done();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.listeners.add(wake);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Keeps the stream up until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const stop = (): void => this.socket?.terminate();
    signal.addEventListener('abort', stop, { once: true });
    try {
      while (!signal.aborted) {
        this.set(this.current === 'refused' ? 'refused' : 'connecting');
        const ending = await this.attempt(signal);
        if (signal.aborted) break;
        this.failOver(ending);
        const pause = this.after(ending);
        this.log.debug({ ending, pauseMs: pause.ms, state: pause.state }, 'stream ended');
        this.set(pause.state);
        await sleep(pause.ms, undefined, { signal }).catch(() => undefined);
      }
    } finally {
      signal.removeEventListener('abort', stop);
      this.set('stopped');
    }
  }

  /** Moves to the next replica when this attempt found the current one down or lost it. */
  private failOver(ending: Ending): void {
    const { endpoints } = this.options;
    if (ending.kind === 'failed') {
      if (ending.beforeConnecting !== true)
        endpoints.failed(ending.url, { kind: 'down' }, `the stream failed: ${ending.error}`);
    } else if (ending.kind === 'refused')
      endpoints.failed(
        ending.url,
        { kind: 'status', status: ending.status },
        `the stream upgrade was answered ${ending.status}`,
      );
    else if (DROPPED.has(ending.code))
      endpoints.failed(ending.url, { kind: 'down' }, `the stream was closed with code ${ending.code}`);
  }

  /** What to do after an attempt ended: how long to wait, and in which state. */
  private after(ending: Ending): { ms: number; state: StreamState } {
    const window = this.options.reconnectWindowMs ?? 30_000;
    switch (ending.kind) {
      case 'refused':
        if (ending.status === 429 || ending.status === 503) {
          const base = ending.retryAfterMs ?? this.backoff.next();
          return { ms: Math.round(base * (1 + this.random())), state: 'waiting' };
        }
        if (ending.status === 401) {
          this.options.invalidateToken();
          return { ms: this.backoff.next(), state: 'waiting' };
        }
        if (ending.status === 403) return { ms: this.backoff.next(), state: 'waiting' };
        this.log.warn(
          { status: ending.status },
          'the hub stream upgrade was answered with plain HTTP; long-polling instead',
        );
        return { ms: this.options.fallbackMs ?? 600_000, state: 'refused' };
      case 'closed':
        if (ending.code === STREAM_CLOSE.restarting || ending.code === 1001)
          return { ms: Math.round(this.random() * window), state: 'waiting' };
        if (ending.code === STREAM_CLOSE.unauthenticated) {
          this.options.invalidateToken();
          return { ms: ending.opened ? 0 : this.backoff.next(), state: 'waiting' };
        }
        if (ending.code === STREAM_CLOSE.replaced) return { ms: window, state: 'waiting' };
        return { ms: this.backoff.next(), state: 'waiting' };
      case 'failed':
        return { ms: this.backoff.next(), state: 'waiting' };
    }
  }

  private attempt(signal: AbortSignal): Promise<Ending> {
    return new Promise<Ending>((resolve) => {
      const hub = this.options.endpoints.current;
      const url = `${hub.replace(/^http/, 'ws')}/v1/targets/${encodeURIComponent(this.options.targetId)}/stream`;
      let settled = false;
      let opened = false;
      let deadline: NodeJS.Timeout | undefined;
      const finish = (ending: DistributiveOmit<Ending, 'url'>): void => {
        clearTimeout(deadline);
        if (settled) return;
        settled = true;
        this.socket = undefined;
        this.sentToken = undefined;
        resolve({ ...ending, url: hub });
      };
      this.options.token().then(
        (token) => {
          if (signal.aborted) return finish({ kind: 'failed', error: 'stopped' });
          const ws = new WebSocket(url, {
            headers: { authorization: `Bearer ${token}` },
            perMessageDeflate: false,
            handshakeTimeout: this.options.connectTimeoutMs ?? 60_000,
            maxPayload: 64 * 1024,
          });
          this.socket = ws;
          this.sentToken = token;
          const alive = (heartbeatMs: number): void => {
            clearTimeout(deadline);
            deadline = setTimeout(() => ws.terminate(), heartbeatMs * 2.5);
          };
          let heartbeatMs = 30_000;
          ws.on('unexpected-response', (_req, res) => {
            const retryAfter = Number(res.headers['retry-after']);
            res.resume();
            finish({
              kind: 'refused',
              status: res.statusCode ?? 0,
              retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
            });
            ws.terminate();
          });
          ws.on('open', () => {
            opened = true;
            this.options.endpoints.reached(hub);
            this.opens++;
            this.backoff.reset();
            alive(heartbeatMs);
          });
          ws.on('ping', () => {
            alive(heartbeatMs);
            void this.renew(ws);
          });
          ws.on('message', (data, isBinary) => {
            const parsed = isBinary ? undefined : parseMessage(textOf(data));
            if (parsed === undefined) return;
            if (parsed.type === 'hello') {
              heartbeatMs = parsed.heartbeatSeconds * 1000;
              alive(heartbeatMs);
              this.set('open');
              if (parsed.etag === null || parsed.etag !== this.options.etag()) this.bump();
            } else if (parsed.type === 'changed') this.bump();
          });
          ws.on('error', (error) => finish({ kind: 'failed', error: messageOf(error) }));
          ws.on('close', (code) => finish({ kind: 'closed', code, opened }));
        },
        (error: unknown) => finish({ kind: 'failed', error: messageOf(error), beforeConnecting: true }),
      );
    });
  }

  /** Sends a renewed access token on the open stream, so it outlives the one it opened with. */
  private async renew(ws: WebSocket): Promise<void> {
    let token: string;
    try {
      token = await this.options.token();
    } catch (error) {
      this.log.warn({ err: messageOf(error) }, 'could not renew the access token for the stream');
      return;
    }
    if (token === this.sentToken || ws.readyState !== WebSocket.OPEN || this.socket !== ws) return;
    this.sentToken = token;
    ws.send(JSON.stringify({ type: 'auth', token }));
  }

  private bump(): void {
    this.seq++;
    for (const wake of [...this.listeners]) wake();
  }

  private set(state: StreamState): void {
    if (this.current === state) return;
    this.current = state;
    for (const wake of [...this.listeners]) wake();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function parseMessage(text: string): HubStreamMessage | undefined {
  try {
    const result = HubStreamMessage.safeParse(JSON.parse(text));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

/** The text of a frame as ws hands it over (a Buffer, or fragments). */
function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
