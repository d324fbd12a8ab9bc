import {
  QueryCompletion as QueryCompletionAnswer,
  QueryCompletionQuery,
  TargetBrowsePage,
  TargetBrowseQuery,
} from '@flotilla/protocol/api';
import { requireOperator, type Authenticator, type TargetScope } from '../../http/auth.ts';
import { readQuery } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import type { QueryCompletion } from './query-completion.ts';
import type { TargetBrowser } from './target-browse.ts';

export interface TargetBrowseRoutesDeps {
  readonly auth: Authenticator;
  readonly browser: TargetBrowser;
  readonly completion: QueryCompletion;
  readonly scope: TargetScope;
}

/**
 * Browsing the fleet (docs/api.md): offset pages in any column's order for tables people
 * scroll (`/v1/targets/browse`), and completion of field names and values for the query bar
 * (`/v1/targets/complete`). Registered before `/v1/targets/:id`, which would take the words
 * for ids. A scoped token browses and completes within its scope only.
 */
export function targetBrowseRoutes(router: Router, { auth, browser, completion, scope }: TargetBrowseRoutesDeps): void {
  router.on('GET', '/v1/targets/browse', ({ req, res, query }) => {
    const principal = requireOperator(auth, req, 'viewer', { scoped: true });
    const { q, sort, order, offset, limit } = readQuery(query, TargetBrowseQuery);
    sendJson(res, 200, TargetBrowsePage, browser.page(scope.narrow(principal, q), sort, order, offset, limit));
  });

  router.on('GET', '/v1/targets/complete', ({ req, res, query }) => {
    const principal = requireOperator(auth, req, 'viewer', { scoped: true });
    const { q, at } = readQuery(query, QueryCompletionQuery);
    const within = scope.within(principal);
    const among = within === undefined ? undefined : browser.ids(within);
    sendJson(res, 200, QueryCompletionAnswer, completion.complete(q, at ?? q.length, among));
  });
}
