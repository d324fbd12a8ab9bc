import { signal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';

/**
 * Event types of `GET /v1/events`; `reset` means "reload what you show"; `ready` gives the
 * stream's position when it opens, so a drop before any other event still resumes.
 */
export type LiveType = 'report' | 'rollout' | 'drift' | 'audit' | 'reset' | 'ready';
export type LiveHandler = (type: LiveType, data: Record<string, unknown>) => void;

/** Whether the event stream is open. */
export const liveState = signal<'connecting' | 'live' | 'offline'>('connecting');

const handlers = new Set<LiveHandler>();
const TYPES: readonly LiveType[] = ['report', 'rollout', 'drift', 'audit', 'reset', 'ready'];
let source: EventSource | undefined;
let lastId = '';
let retry: number | undefined;

/**
 * Opens the hub's event stream (the session cookie authenticates it). The browser
 * reconnects by itself and sends Last-Event-ID; when the stream is refused, it is reopened
 * a few seconds later from the last event seen.
 */
export function connectLive(): void {
  if (source !== undefined) return;
  liveState.value = 'connecting';
  const stream = new EventSource(lastId === '' ? '/v1/events' : `/v1/events?lastEventId=${encodeURIComponent(lastId)}`);
  source = stream;
  stream.onopen = () => {
    liveState.value = 'live';
  };
  stream.onerror = () => {
    if (stream.readyState !== EventSource.CLOSED) {
      liveState.value = 'connecting';
      return;
    }
    liveState.value = 'offline';
    source = undefined;
    retry = window.setTimeout(connectLive, 5_000);
  };
  for (const type of TYPES) {
    stream.addEventListener(type, (event) => {
      const message = event as MessageEvent<string>;
      if (message.lastEventId !== '') lastId = message.lastEventId;
      let data: Record<string, unknown>;
      try {
        data = JSON.parse(message.data) as Record<string, unknown>;
      } catch {
        data = {};
      }
      for (const handler of handlers) handler(type, data);
    });
  }
}

export function disconnectLive(): void {
  window.clearTimeout(retry);
  source?.close();
  source = undefined;
  lastId = '';
  liveState.value = 'offline';
}

/**
 * Calls `handler` for each live event while the component is mounted. The handler may
 * change between renders; the newest one is called.
 */
export function useLive(handler: LiveHandler): void {
  const current = useRef(handler);
  current.current = handler;
  useEffect(() => {
    const listener: LiveHandler = (type, data) => current.current(type, data);
    handlers.add(listener);
    return () => {
      handlers.delete(listener);
    };
  }, []);
}

/**
 * A function that runs `fn` at most once per `ms`, trailing: bursts of events cost one reload.
 */
export function useThrottled(fn: () => void, ms: number): () => void {
  const current = useRef(fn);
  current.current = fn;
  const state = useRef<{ timer: number | undefined; last: number }>({ timer: undefined, last: 0 });
  useEffect(() => () => window.clearTimeout(state.current.timer), []);
  return () => {
    const s = state.current;
    if (s.timer !== undefined) return;
    const wait = Math.max(0, s.last + ms - Date.now());
    s.timer = window.setTimeout(() => {
      s.timer = undefined;
      s.last = Date.now();
      current.current();
    }, wait);
  };
}
