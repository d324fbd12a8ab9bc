// What the agent's bundle gets for `import … from 'undici'` (scripts/bundle-agent.js), which
// only the registry client of an air-gapped site's image pushes imports (the hub and the
// Kubernetes API are reached through node:http, packages/agent/src/http-client.ts): the
// connection-pooling Agent and `request`, the only parts it uses, without what
// undici's index loads besides (fetch, WebSocket, EventSource, caches, mocks, proxies, the
// interceptors), which cost the agent about 3 MB of heap and a fifth of its start time.
// Named exports, so that a bundled import of anything else fails the build instead of
// being undefined at run time.
import Agent from 'undici/lib/dispatcher/agent.js';
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';
import api from 'undici/lib/api/index.js';

// As undici's index does: the request API on every dispatcher.
Object.assign(Dispatcher.prototype, api);

/**
 * undici's `request(url, options)` for an absolute URL and an explicit `dispatcher`, the
 * only way the agent calls it.
 */
function request(url, options) {
  if (options?.dispatcher === undefined) throw new TypeError('request needs options.dispatcher in the agent bundle');
  const { dispatcher, ...rest } = options;
  const parsed = new URL(url);
  return dispatcher.request({
    ...rest,
    origin: parsed.origin,
    path: `${parsed.pathname}${parsed.search}`,
    method: rest.method ?? (rest.body ? 'PUT' : 'GET'),
  });
}

export { Agent, Dispatcher, request };
