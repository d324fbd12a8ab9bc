import { FlotillaError, TargetId } from '@flotilla/protocol';
import { AssignRequest, AssignResult } from '@flotilla/protocol/api';
import { requireAgent, requireOperator, type Authenticator, type TargetScope } from '../../http/auth.ts';
import { readJson, readParam } from '../../http/body.ts';
import { sendEmpty, sendJson, sendRawJson } from '../../http/respond.ts';
import type { Router } from '../../http/router.ts';
import { actorOf } from '../../principal.ts';
import type { DesiredStateService } from './desired-state-service.ts';

export interface DesiredStateRoutesDeps {
  readonly auth: Authenticator;
  readonly desired: DesiredStateService;
  /** Keeps a scoped token's assignments to targets in its scope. */
  readonly scope: TargetScope;
  /** The longest long-poll an agent may ask for, in seconds. */
  readonly maxWaitSeconds: number;
  /**
   * Issues the target's envelopes that a rollout's started wave holds for it (the rollouts
   * feature): a fetch is answered with what its agent was told is coming.
   */
  readonly waiting: { issueOnFetch(targetId: string): Promise<void> };
  /**
   * A fetch's turn behind the `changed` notices still being sent (the stream feature): a fetch
   * waits for them, so the agents told first do not hold back the notices of the rest.
   */
  readonly notices?: { turnOfFetch(): Promise<void> | undefined };
}

function waitSeconds(raw: string | null, max: number): number {
  if (raw === null) return 0;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new FlotillaError(
      'VALIDATION_FAILED',
      `wait must be a whole number of seconds from 0 to ${max}, received '${raw}'`,
    );
  }
  return value;
}

/**
 * Desired state: the agents' long-poll for their envelope (the hottest route, so it is
 * registered first) and operators' assignment of releases (deployer). A fetch that comes while
 * streams are being told of a change waits until they are. A target that a rollout's wave took
 * in has its envelope issued before its fetch is answered, at the start and again when a
 * long-poll is woken.
 */
export function desiredStateRoutes(
  router: Router,
  { auth, desired, scope, maxWaitSeconds, waiting, notices }: DesiredStateRoutesDeps,
): void {
  router.on('GET', '/v1/targets/:id/envelope', async ({ req, res, params, query }) => {
    const targetId = params['id']!;
    const turn = notices?.turnOfFetch();
    if (turn !== undefined) await turn;
    if (res.destroyed) return;
    await requireAgent(auth, req, targetId);
    await waiting.issueOnFetch(targetId);
    const state = desired.checkIn(targetId);
    const wait = waitSeconds(query.get('wait'), maxWaitSeconds);
    const known = req.headers['if-none-match'];
    const answer = (): void => {
      const now = desired.current(targetId);
      if (now === undefined) throw new FlotillaError('NOT_FOUND', `target ${targetId} does not exist`);
      if (known === now.etag) return sendEmpty(res, 304, { etag: now.etag });
      if (now.envelopeJson === undefined) return sendEmpty(res, 204, { etag: now.etag });
      sendRawJson(res, 200, now.envelopeJson, { etag: now.etag, 'cache-control': 'no-cache' });
    };
    if (wait === 0 || state === undefined || known !== state.etag) return answer();
    await new Promise<void>((resolve) => {
      const cancel = desired.waitForChange(targetId, wait * 1000, resolve);
      res.once('close', () => {
        cancel();
        resolve();
      });
    });
    if (res.writableEnded || res.destroyed) return;
    await waiting.issueOnFetch(targetId);
    if (!res.writableEnded && !res.destroyed) answer();
  });

  router.on('POST', '/v1/targets/:id/assign', async ({ req, res, params }) => {
    const principal = requireOperator(auth, req, 'deployer', { scoped: true });
    const targetId = readParam(params['id'], TargetId, 'target id');
    scope.check(principal, targetId, req);
    const { bundles } = await readJson(req, AssignRequest);
    sendJson(res, 200, AssignResult, desired.assign(targetId, bundles, actorOf(principal)));
  });
}
