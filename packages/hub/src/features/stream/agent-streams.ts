import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { decodeJwt } from 'jose';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { FlotillaError, messageOf, type TargetStatus } from '@flotilla/protocol';
import { STREAM_CLOSE, StreamAuth, type HubStreamMessage } from '@flotilla/protocol/api';
import type { Clock } from '../../clock.ts';
import { requireAgent, type Authenticator } from '../../http/auth.ts';
import { ERROR_STATUS } from '../../http/error-status.ts';
import { TurnBudget } from '../../turn-budget.ts';
import { NoticeQueue } from './notice-queue.ts';
import { sharedTextFrame, writeSharedFrame } from './shared-frame.ts';

/** The envelope tag of a target now, for the stream's hello (the targets feature's cache). */
export interface EnvelopeTags {
  get(id: string): { readonly etag: string } | undefined;
}

export interface AgentStreamsOptions {
  readonly auth: Authenticator;
  readonly tags: EnvelopeTags;
  readonly clock: Clock;
  readonly log: Logger;
  /** How often the hub pings each stream and closes those whose token expired; default 30 s. */
  readonly heartbeatMs?: number;
  /** The most streams held at once; more are refused 429 until some close. */
  readonly maxStreams?: number;
  /** The most upgrades being authenticated at once; more are refused 429 (a reconnect storm). */
  readonly maxHandshakes?: number;
  /** What a 429 asks agents to wait, in seconds: each refusal names a random whole number up to this. */
  readonly retryAfterSeconds?: number;
  /** The longest one turn of the event loop spends sending `changed` notices; default {@link NOTICE_SLICE_MS}. */
  readonly noticeSliceMs?: number;
  /** The longest an envelope fetch waits for the notices queued before it (see {@link AgentStreams.turnOfFetch}); default 1 s. */
  readonly fetchWaitMaxMs?: number;
  readonly random?: () => number;
  /** The turn's time shared with the hub's other sliced work (the notices' slices, the heartbeat's ticks); one of its own when not given. */
  readonly budget?: TurnBudget;
}

interface Stream {
  readonly ws: WebSocket;
  /** The socket under `ws`, which a notice is written to (see {@link writeSharedFrame}). */
  readonly socket: Duplex;
  readonly targetId: string;
  /** When the access token the stream was opened (or last re-authenticated) with expires. */
  expiresAt: number;
  /** Pings sent since the agent last answered one. */
  unanswered: number;
}

const PATH = /^\/v1\/targets\/([^/]+)\/stream$/;
const CHANGED = sharedTextFrame(JSON.stringify({ type: 'changed' } satisfies HubStreamMessage));

/**
 * The longest one turn of the event loop spends sending notices (each a write to its socket,
 * 10–40 µs): a wave that tells 18,000 agents at once sends them over several turns, oldest
 * first, and what else waits on the hub runs in between (the told agents' fetches wait for the
 * notices, see {@link NoticeQueue}).
 */
const NOTICE_SLICE_MS = 40;

/**
 * The heartbeat visits its streams in slices, a round of them one interval apart: one loop over
 * 18,000 streams held the event loop for about 400 ms at every heartbeat. A tick (a thirtieth of
 * the interval, at least 10 ms) pings its share of the streams, so a round takes about the
 * interval and each stream is still pinged once per interval.
 */
const HEARTBEAT_TICKS = 30;
const HEARTBEAT_TICK_MIN_MS = 10;

/**
 * The agents' push streams (docs/api.md, "Stream"): one WebSocket per connected target, opened
 * with the agent's access token and kept alive by pings. When a target's envelope changes the
 * hub sends `changed`, and the agent fetches its envelope over HTTP as it always does, so what
 * it verifies is unchanged. A stream ends when its token expires without a renewed one (`auth`
 * message), when the target is revoked or disabled, or when the agent stops answering pings.
 *
 * Load is shed before work is done: an upgrade beyond {@link AgentStreamsOptions.maxStreams} or
 * while too many handshakes are in progress is answered `429` with a jittered `Retry-After`.
 */
export class AgentStreams {
  private readonly streams = new Map<string, Stream>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: 8 * 1024,
  });
  private readonly options: AgentStreamsOptions;
  private readonly log: Logger;
  private readonly heartbeatMs: number;
  private readonly maxStreams: number;
  private readonly maxHandshakes: number;
  private readonly retryAfterSeconds: number;
  private readonly random: () => number;
  private readonly budget: TurnBudget;
  private handshakes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The heartbeat's round under way (the streams it has yet to visit), and when it started. */
  private round: Iterator<Stream> | undefined;
  private roundStartedAt = -Infinity;
  private closing = false;
  private readonly notices: NoticeQueue;
  /** Counters since start, for tests and the benchmark. */
  readonly stats = { opened: 0, refused: 0, reauthenticated: 0, notices: 0, heartbeats: 0, fetchesWaited: 0 };

  constructor(options: AgentStreamsOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'stream' });
    this.heartbeatMs = options.heartbeatMs ?? 30_000;
    this.maxStreams = options.maxStreams ?? 50_000;
    this.maxHandshakes = options.maxHandshakes ?? 512;
    this.retryAfterSeconds = options.retryAfterSeconds ?? 10;
    this.random = options.random ?? Math.random;
    this.budget = options.budget ?? new TurnBudget();
    for (const [name, value] of Object.entries({
      noticeSliceMs: options.noticeSliceMs,
      fetchWaitMaxMs: options.fetchWaitMaxMs,
    }))
      if (value !== undefined && (!Number.isFinite(value) || value < 0))
        throw new TypeError(`AgentStreams: ${name} must be 0 or more, received ${value}`);
    this.notices = new NoticeQueue({
      tell: (targetId) => this.tell(targetId),
      sliceMs: options.noticeSliceMs ?? NOTICE_SLICE_MS,
      ...(options.fetchWaitMaxMs === undefined ? {} : { fetchWaitMaxMs: options.fetchWaitMaxMs }),
      budget: this.budget,
    });
    for (const [name, value] of Object.entries({
      heartbeatMs: this.heartbeatMs,
      maxStreams: this.maxStreams,
      maxHandshakes: this.maxHandshakes,
      retryAfterSeconds: this.retryAfterSeconds,
    }))
      if (!Number.isInteger(value) || value < 1)
        throw new TypeError(`AgentStreams: ${name} must be a positive whole number, received ${value}`);
  }

  /** How many streams are open now. */
  get size(): number {
    return this.streams.size;
  }

  /** Whether `targetId` has an open stream. */
  connected(targetId: string): boolean {
    return this.streams.has(targetId);
  }

  /** When the access token of `targetId`'s open stream expires (epoch ms); undefined without one. */
  tokenExpiry(targetId: string): number | undefined {
    return this.streams.get(targetId)?.expiresAt;
  }

  /** Starts the heartbeat. */
  start(): void {
    const tickMs = Math.max(HEARTBEAT_TICK_MIN_MS, Math.floor(this.heartbeatMs / HEARTBEAT_TICKS));
    const ticks = Math.max(1, Math.round(this.heartbeatMs / tickMs));
    this.timer ??= setInterval(() => this.budget.time(() => this.heartbeat(ticks)), tickMs);
    this.timer.unref();
  }

  /**
   * The server's `upgrade` listener: takes `GET /v1/targets/{id}/stream` with the target's
   * access token, and refuses anything else with an HTTP answer naming why.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const match = PATH.exec(q === -1 ? url : url.slice(0, q));
    if (match === null || req.method !== 'GET' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket')
      return this.refuse(socket, new FlotillaError('NOT_FOUND', `no WebSocket at ${req.method} ${url.slice(0, 256)}`));
    if (this.closing) return this.refuse(socket, new FlotillaError('HUB_UNAVAILABLE', 'the hub is stopping'), true);
    if (this.streams.size + this.handshakes >= this.maxStreams || this.handshakes >= this.maxHandshakes) {
      this.stats.refused++;
      return this.refuse(
        socket,
        new FlotillaError('RATE_LIMITED', 'the hub holds as many streams as it takes now; retry after Retry-After'),
        true,
      );
    }
    const targetId = decodeURIComponent(match[1]!);
    this.handshakes++;
    void this.authenticate(req, socket, head, targetId).finally(() => this.handshakes--);
  }

  private async authenticate(req: IncomingMessage, socket: Duplex, head: Buffer, targetId: string): Promise<void> {
    let expiresAt: number;
    try {
      await requireAgent(this.options.auth, req, targetId);
      expiresAt = expiryOf(req.headers.authorization!.slice(7));
    } catch (error) {
      return this.refuse(socket, error);
    }
    if (socket.destroyed) return;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, socket, targetId, expiresAt));
  }

  /**
   * After envelopes changed: tells each target's open stream, at once up to a time slice, the
   * rest in the next turns (after the notices queued before them).
   */
  changed(targetIds: Iterable<string>): void {
    this.notices.push(targetIds);
  }

  /**
   * For an envelope fetch: undefined when it may be served now, else a promise that settles when
   * the notices queued before it are sent (or it waited a second), so that the fetches of the
   * agents told first do not hold back the notices of the rest.
   */
  turnOfFetch(): Promise<void> | undefined {
    const turn = this.notices.turnOfFetch();
    if (turn !== undefined) this.stats.fetchesWaited++;
    return turn;
  }

  private tell(targetId: string): void {
    const stream = this.streams.get(targetId);
    if (stream !== undefined && writeSharedFrame(stream.ws, stream.socket, CHANGED)) this.stats.notices++;
  }

  /** After a target's status changed: a revoked or disabled target's stream is closed at once. */
  statusChanged(targetId: string, status: TargetStatus): void {
    if (status === 'active') return;
    const stream = this.streams.get(targetId);
    if (stream === undefined) return;
    this.streams.delete(targetId);
    stream.ws.close(STREAM_CLOSE.forbidden, `target ${status}`);
    // The agent answers the close at once; one that does not is cut.
    setTimeout(() => stream.ws.terminate(), 1000).unref();
  }

  /**
   * Closes every stream with "restarting", so agents come back spread over their reconnect
   * window, and cuts what is left after `graceMs`.
   */
  async close(graceMs = 1000): Promise<void> {
    this.closing = true;
    clearInterval(this.timer);
    // The agents come back after the restart and fetch anyway: notices still queued are moot.
    this.notices.clear();
    const open = [...this.streams.values()];
    for (const stream of open) stream.ws.close(STREAM_CLOSE.restarting, 'hub restarting');
    if (open.length > 0) {
      await new Promise<void>((resolve) => {
        const cut = setTimeout(() => {
          for (const stream of this.streams.values()) stream.ws.terminate();
          resolve();
        }, graceMs);
        const check = setInterval(() => {
          if (this.streams.size > 0) return;
          clearTimeout(cut);
          clearInterval(check);
          resolve();
        }, 10);
        cut.unref();
      });
    }
    this.wss.close();
  }

  private open(ws: WebSocket, socket: Duplex, targetId: string, expiresAt: number): void {
    const stream: Stream = { ws, socket, targetId, expiresAt, unanswered: 0 };
    this.streams.get(targetId)?.ws.close(STREAM_CLOSE.replaced, 'replaced by a newer stream');
    this.streams.set(targetId, stream);
    this.stats.opened++;
    ws.on('pong', () => {
      stream.unanswered = 0;
    });
    ws.on('message', (data, isBinary) => this.message(stream, data, isBinary));
    ws.on('error', () => ws.terminate());
    ws.once('close', () => {
      if (this.streams.get(targetId) === stream) this.streams.delete(targetId);
    });
    const hello: HubStreamMessage = {
      type: 'hello',
      etag: this.options.tags.get(targetId)?.etag ?? null,
      heartbeatSeconds: this.heartbeatMs / 1000,
    };
    ws.send(JSON.stringify(hello));
  }

  /** The only message an agent sends: a renewed access token for the same target. */
  private message(stream: Stream, data: RawData, isBinary: boolean): void {
    let parsed: StreamAuth | undefined;
    try {
      const result = isBinary ? undefined : StreamAuth.safeParse(JSON.parse(textOf(data)));
      parsed = result?.success === true ? result.data : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined) return stream.ws.close(STREAM_CLOSE.invalid, 'expected {"type":"auth","token":…}');
    const token = parsed.token;
    this.options.auth
      .authenticateAgent(token)
      .then((principal) => {
        if (principal.targetId !== stream.targetId)
          throw new FlotillaError('FORBIDDEN', `the token belongs to target ${principal.targetId}`);
        stream.expiresAt = expiryOf(token);
        this.stats.reauthenticated++;
        const answer: HubStreamMessage = {
          type: 'authenticated',
          expiresAt: new Date(stream.expiresAt).toISOString(),
        };
        stream.ws.send(JSON.stringify(answer));
      })
      .catch((error: unknown) => {
        const forbidden =
          error instanceof FlotillaError && ['FORBIDDEN', 'TARGET_REVOKED', 'TARGET_DISABLED'].includes(error.code);
        stream.ws.close(
          forbidden ? STREAM_CLOSE.forbidden : STREAM_CLOSE.unauthenticated,
          messageOf(error).slice(0, 120),
        );
      });
  }

  /**
   * One tick of the heartbeat: pings its share of the streams (the round's streams over its
   * `ticks`), starting a round once an interval has passed since the last began; ends the streams
   * whose token expired, and those that left two pings in a row unanswered (one may be late
   * behind a busy event loop on either side).
   */
  private heartbeat(ticks: number): void {
    if (this.streams.size === 0) {
      this.round = undefined;
      return;
    }
    if (this.round === undefined) {
      if (performance.now() - this.roundStartedAt < this.heartbeatMs) return;
      this.round = this.streams.values();
      this.roundStartedAt = performance.now();
      this.stats.heartbeats++;
    }
    const now = this.options.clock();
    for (let left = Math.ceil(this.streams.size / ticks); left > 0; left--) {
      const next = this.round.next();
      if (next.done === true) {
        this.round = undefined;
        return;
      }
      const stream = next.value;
      if (stream.expiresAt <= now) {
        stream.ws.close(STREAM_CLOSE.unauthenticated, 'access token expired');
      } else if (stream.unanswered >= 2) {
        stream.ws.terminate();
      } else {
        stream.unanswered++;
        stream.ws.ping();
      }
    }
  }

  /** Answers an upgrade with the HTTP status of `error` and closes the socket. */
  private refuse(socket: Duplex, error: unknown, retryLater = false): void {
    if (socket.destroyed) return;
    const known = error instanceof FlotillaError ? error : undefined;
    if (known === undefined) this.log.error({ err: error }, 'stream upgrade failed');
    const status = known === undefined ? 500 : ERROR_STATUS[known.code];
    const body = JSON.stringify(
      known?.toResponse() ?? { error: { code: 'INTERNAL', message: 'the hub failed to open the stream' } },
    );
    const retryAfter = retryLater ? 1 + Math.floor(this.random() * this.retryAfterSeconds) : undefined;
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
        'content-type: application/json; charset=utf-8\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        (retryAfter === undefined ? '' : `retry-after: ${retryAfter}\r\n`) +
        'connection: close\r\n\r\n' +
        body,
    );
  }
}

/** The expiry of an access token the identity service has just accepted, in epoch ms. */
function expiryOf(token: string): number {
  const exp = decodeJwt(token).exp;
  if (exp === undefined) throw new FlotillaError('UNAUTHENTICATED', 'the access token has no expiry');
  return exp * 1000;
}

/** The text of a frame as ws hands it over (a Buffer, or fragments). */
function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
