import {
  QueryCompletion as QueryCompletionAnswer,
  QueryCompletionQuery,
  TargetBrowsePage,
  TargetBrowseQuery,
} from '@flotilla/protocol/api';
import { requireOperator, type Authenticator } from '../../http/auth.ts';
import { readQuery } from '../../http/body.ts';
import { sendJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import type { QueryCompletion } from './query-completion.ts';
import type { TargetBrowser } from './target-browse.ts';

export interface TargetBrowseRoutesDeps {
  readonly auth: Authenticator;
  readonly browser: TargetBrowser;
  readonly completion: QueryCompletion;
}

/**
 * Browsing the fleet (docs/api.md): offset pages in any column's order for tables people
 * scroll (`/v1/targets/browse`), and completion of field names and values for the query bar
 * (`/v1/targets/complete`). Registered before `/v1/targets/:id`, which would take the words
 * for ids.
 */
export function targetBrowseRoutes(router: Router, { auth, browser, completion }: TargetBrowseRoutesDeps): void {
  router.on('GET', '/v1/targets/browse', ({ req, res, query }) => {
    requireOperator(auth, req, 'viewer');
    const { q, sort, order, offset, limit } = readQuery(query, TargetBrowseQuery);
    sendJson(res, 200, TargetBrowsePage, browser.page(q, sort, order, offset, limit));
  });

  router.on('GET', '/v1/targets/complete', ({ req, res, query }) => {
    requireOperator(auth, req, 'viewer');
    const { q, at } = readQuery(query, QueryCompletionQuery);
    sendJson(res, 200, QueryCompletionAnswer, completion.complete(q, at ?? q.length));
  });
}
