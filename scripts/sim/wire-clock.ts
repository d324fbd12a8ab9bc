import { subscribe, unsubscribe } from 'node:diagnostics_channel';

/** undici's channel for a request whose headers it writes to a connection (undici's docs, "Diagnostics Channel"). */
const SEND_HEADERS = 'undici:client:sendHeaders';

interface SendHeaders {
  readonly request: { readonly method: string; readonly path: string };
}

/**
 * When undici put a request on a connection, by method and path. A simulator process's
 * thousands of agents share a few connections, so a request may first wait in the pool behind
 * other agents' requests: a wait no agent with a connection of its own has. Timed from here,
 * a request's latency is the hub's answer alone. Only the requests `watch` picks are noted,
 * and each is forgotten when read: one outstanding per path, as an agent sends its report.
 */
export class WireClock {
  private readonly sent = new Map<string, number>();
  private readonly onSend: (message: unknown) => void;

  constructor(watch: (method: string, path: string) => boolean) {
    this.onSend = (message) => {
      const { method, path } = (message as SendHeaders).request;
      if (watch(method, path)) this.sent.set(`${method} ${path}`, performance.now());
    };
    subscribe(SEND_HEADERS, this.onSend);
  }

  /** When the request `method path` went on a connection (`performance.now()`), once; undefined if it did not. */
  take(method: string, path: string): number | undefined {
    const key = `${method} ${path}`;
    const at = this.sent.get(key);
    this.sent.delete(key);
    return at;
  }

  close(): void {
    unsubscribe(SEND_HEADERS, this.onSend);
    this.sent.clear();
  }
}
