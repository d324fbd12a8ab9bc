import { z } from 'zod';

/**
 * The agents' push stream (`GET /v1/targets/{id}/stream`, a WebSocket upgrade carrying the
 * agent's access token): the hub tells a connected agent that its envelope changed, and the
 * agent fetches the envelope as it always does, so every signature check stays where it was.
 * Messages are JSON text frames; close codes are {@link STREAM_CLOSE}.
 */

/** First message on a new stream: the target's current envelope tag and the hub's heartbeat. */
export const StreamHello = z.object({
  type: z.literal('hello'),
  /** The ETag of the target's envelope now; the agent fetches only when its own differs. */
  etag: z.string().nullable(),
  /** The hub pings this often; an agent that hears nothing for 2.5 times as long reconnects. */
  heartbeatSeconds: z.number().positive(),
});
export type StreamHello = z.infer<typeof StreamHello>;

/** The target's envelope changed: fetch it. */
export const StreamChanged = z.object({ type: z.literal('changed') });
export type StreamChanged = z.infer<typeof StreamChanged>;

/** The hub took a renewed access token on an open stream; it now closes the stream at `expiresAt`. */
export const StreamAuthenticated = z.object({ type: z.literal('authenticated'), expiresAt: z.iso.datetime() });
export type StreamAuthenticated = z.infer<typeof StreamAuthenticated>;

/** What the hub sends. */
export const HubStreamMessage = z.discriminatedUnion('type', [StreamHello, StreamChanged, StreamAuthenticated]);
export type HubStreamMessage = z.infer<typeof HubStreamMessage>;

/** What an agent sends: a renewed access token, so the stream outlives each token without reconnecting. */
export const StreamAuth = z.strictObject({ type: z.literal('auth'), token: z.string().min(1).max(4096) });
export type StreamAuth = z.infer<typeof StreamAuth>;

/** The close codes of the stream and what the agent does after each. */
export const STREAM_CLOSE = {
  /** The hub is restarting or stopping: reconnect at a random moment within the reconnect window. */
  restarting: 1012,
  /** The access token expired or was refused: get a new one and reconnect. */
  unauthenticated: 4401,
  /** The target was revoked or disabled: the stream is over; long-polls will say why. */
  forbidden: 4403,
  /** A newer stream of the same target replaced this one. */
  replaced: 4409,
  /** The agent sent something that is not a stream message. */
  invalid: 1008,
} as const;
