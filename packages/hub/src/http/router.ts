import type { IncomingMessage, ServerResponse } from 'node:http';
import { FlotillaError } from '@flotilla/protocol';

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly remote: string;
}

export type Handler = (ctx: RequestContext) => Promise<void> | void;

interface Route {
  readonly method: string;
  /** The path as registered, such as `/v1/targets/:id`: the low-cardinality name metrics use. */
  readonly path: string;
  readonly pattern: RegExp;
  readonly names: readonly string[];
  readonly handler: Handler;
}

/** Path patterns with `:name` segments; first match wins, so hot routes go first. */
export class Router {
  private readonly routes: Route[] = [];

  on(method: string, path: string, handler: Handler): this {
    const names: string[] = [];
    const source = path
      .split('/')
      .map((segment) => {
        if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(segment.slice(1));
        return '([^/]+)';
      })
      .join('/');
    this.routes.push({ method, path, pattern: new RegExp(`^${source}$`), names, handler });
    return this;
  }

  /** Every route as registered, in order: for tests that must reach each one, such as the fault suite's fuzzing. */
  list(): { readonly method: string; readonly path: string }[] {
    return this.routes.map(({ method, path }) => ({ method, path }));
  }

  /** The handler and its parameters, or a 404/405 error that says what exists. */
  match(method: string, path: string): { handler: Handler; params: Record<string, string>; route: string } {
    let pathMatched = false;
    for (const route of this.routes) {
      const found = route.pattern.exec(path);
      if (found === null) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => {
        params[name] = decodeSegment(found[i + 1]!);
      });
      return { handler: route.handler, params, route: route.path };
    }
    if (pathMatched) {
      const allowed = this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method);
      throw new FlotillaError(
        'METHOD_NOT_ALLOWED',
        `${method} is not allowed on ${path}; use ${[...new Set(allowed)].join(' or ')}`,
      );
    }
    throw new FlotillaError('NOT_FOUND', `no API route at ${path}`);
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new FlotillaError('BAD_REQUEST', `the path segment '${segment}' is not valid percent-encoding`);
  }
}
