import { useEffect, useState } from 'preact/hooks';
import { ApprovalStatus as ApprovalStatusSchema, RolloutView as RolloutViewSchema } from '@flotilla/protocol/api';
import type { ApprovalStatus } from '@flotilla/protocol/api';
import { api, canDeploy, get } from '../api.ts';
import { ApprovalsPanel } from '../components/approvals-panel.tsx';
import { Badge } from '../components/badge.tsx';
import { HoldReason, WaveHolds } from '../components/hold-reason.tsx';
import { ErrorNote } from '../components/error-note.tsx';
import { Time } from '../components/time.tsx';
import { WaveProgress } from '../components/wave-progress.tsx';
import { duration } from '../format.ts';
import { useLive, useThrottled } from '../live.ts';
import type { RolloutView, WaveView } from '../types.ts';

type Verb = 'pause' | 'resume' | 'abort' | 'rollback';

/** Which commands the rollout's state allows (docs/rollouts.md). */
const ALLOWED: Readonly<Record<Verb, readonly string[]>> = {
  pause: ['running'],
  resume: ['paused'],
  abort: ['running', 'paused'],
  rollback: ['running', 'paused', 'completed', 'aborted'],
};
const CONFIRM: ReadonlySet<Verb> = new Set(['abort', 'rollback']);

function Clock({ wave, now }: { wave: WaveView; now: number }) {
  if (wave.bakeUntil !== null && wave.state === 'baking') {
    const left = Date.parse(wave.bakeUntil) - now;
    return (
      <span>
        baking, <span data-testid="bake-left">{duration(Math.max(0, left))}</span> left (until{' '}
        <Time iso={wave.bakeUntil} />)
      </span>
    );
  }
  if (wave.timeoutAt !== null && (wave.state === 'in-progress' || wave.state === 'paused')) {
    return <span>times out in {duration(Math.max(0, Date.parse(wave.timeoutAt) - now))}</span>;
  }
  if (wave.finishedAt !== null) {
    return (
      <span>
        finished <Time iso={wave.finishedAt} />
      </span>
    );
  }
  return <span class="muted">—</span>;
}

/**
 * One rollout, live: every wave's progress (applied, healthy, failed, pending, blocked with
 * reasons), its gates and bake clock, and the commands the viewer's role and the rollout's
 * state allow.
 */
export function RolloutPage({ id }: { id: string }) {
  const [view, setView] = useState<RolloutView | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [confirming, setConfirming] = useState<Verb | undefined>(undefined);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [now, setNow] = useState(Date.now());
  const [approvals, setApprovals] = useState<ApprovalStatus | undefined>(undefined);

  const loadView = (): void => {
    get(`/v1/rollouts/${encodeURIComponent(id)}`, RolloutViewSchema, { members: 'problems', limit: 200 }).then(
      (answer) => {
        setView(answer);
        setError(undefined);
      },
      setError,
    );
  };
  // Approvals change only with the rollout's own steps (an approval is one), never with reports.
  const loadApprovals = (): void => {
    get(`/v1/rollouts/${encodeURIComponent(id)}/approval-status`, ApprovalStatusSchema).then(setApprovals, setError);
  };
  const load = (): void => {
    loadView();
    loadApprovals();
  };
  useEffect(load, [id]);
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 1_000);
    return () => window.clearInterval(timer);
  }, []);
  const reloadView = useThrottled(loadView, 300);
  const reload = useThrottled(load, 300);
  useLive((type, data) => {
    if (type === 'reset' || (type === 'rollout' && data['rollout'] === id)) reload();
    else if (type === 'report') reloadView();
  });

  const run = (verb: Verb): void => {
    setBusy(true);
    api(
      'POST',
      `/v1/rollouts/${encodeURIComponent(id)}/${verb}`,
      RolloutViewSchema,
      reason.trim() === '' ? undefined : { reason: reason.trim() },
    )
      .then((answer) => {
        setView(answer);
        setError(undefined);
        setConfirming(undefined);
        setReason('');
      })
      .catch(setError)
      .finally(() => setBusy(false));
  };

  if (view === undefined) {
    return (
      <main id="main" class="page">
        <h1>Rollout {id}</h1>
        <ErrorNote error={error} />
        {error === undefined ? <p class="muted">Loading…</p> : null}
      </main>
    );
  }
  const verbs = (Object.keys(ALLOWED) as Verb[]).filter((verb) => ALLOWED[verb].includes(view.state));
  return (
    <main id="main" class="page">
      <div class="page-head">
        <h1>
          Rollout of {view.release.name}@{view.release.version} <Badge value={view.state} />
        </h1>
        <p class="muted">
          <span class="mono">{view.id}</span> · selector{' '}
          <code>{view.selector === '' ? '(every target)' : view.selector}</code> · started <Time iso={view.createdAt} />{' '}
          by {view.createdBy.id}
          {view.finishedAt === null ? null : (
            <>
              {' '}
              · finished <Time iso={view.finishedAt} />
            </>
          )}
        </p>
        {view.reason === null ? null : <p class="notice">{view.reason}</p>}
      </div>
      <ErrorNote error={error} />
      {canDeploy() && verbs.length > 0 ? (
        <section class="card actions" aria-label="Rollout commands">
          <label for="ro-reason">Reason (recorded in the audit trail)</label>
          <input id="ro-reason" type="text" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
          <div class="buttons">
            {confirming === undefined ? (
              verbs.map((verb) => (
                <button
                  key={verb}
                  type="button"
                  class={CONFIRM.has(verb) ? 'danger' : 'primary'}
                  disabled={busy}
                  onClick={() => (CONFIRM.has(verb) ? setConfirming(verb) : run(verb))}
                >
                  {verb[0]!.toUpperCase() + verb.slice(1)}
                </button>
              ))
            ) : (
              <>
                <span role="alert">
                  {confirming === 'abort'
                    ? 'Abort stops the rollout where it is; targets keep what they have.'
                    : 'Rollback restores every member’s previous release.'}{' '}
                  Sure?
                </span>
                <button type="button" class="danger" disabled={busy} onClick={() => run(confirming)}>
                  Yes, {confirming}
                </button>
                <button type="button" onClick={() => setConfirming(undefined)}>
                  Cancel
                </button>
              </>
            )}
          </div>
        </section>
      ) : null}
      {approvals !== undefined && (approvals.requirements.length > 0 || approvals.approvals.length > 0) ? (
        <ApprovalsPanel status={approvals} onChange={load} />
      ) : null}
      <section class="card" aria-labelledby="totals">
        <h2 id="totals">Progress</h2>
        <WaveProgress counts={view.totals} label="All waves" />
        <p class="muted small">
          {view.selected} targets selected, {view.outside} outside every wave · gates: bake {view.plan.bake}, failure
          budget {view.plan.failureBudget}
          {view.plan.timeout === null ? '' : `, timeout ${view.plan.timeout}`}
          {view.plan.rollbackOnFailure ? ', rolls back on failure' : ''}
        </p>
      </section>
      <section class="card" aria-labelledby="waves">
        <h2 id="waves">Waves</h2>
        <div class="table-wrap">
          <table class="data">
            <caption class="sr-only">Waves in order, with gates and progress</caption>
            <thead>
              <tr>
                <th scope="col">Wave</th>
                <th scope="col">Spec</th>
                <th scope="col">State</th>
                <th scope="col">Progress</th>
                <th scope="col">Gates</th>
                <th scope="col">Clock</th>
                <th scope="col">Held</th>
              </tr>
            </thead>
            <tbody>
              {view.waves.map((wave) => (
                <tr key={wave.index} data-testid={`wave-${wave.name}`}>
                  <td>
                    {wave.index + 1}. {wave.name}
                  </td>
                  <td class="mono">{wave.spec}</td>
                  <td>
                    <Badge value={wave.state} />
                  </td>
                  <td class="c-progress">
                    <WaveProgress counts={wave.counts} label={`Wave ${wave.name}`} />
                  </td>
                  <td class="small">
                    bake {wave.gates.bake} · budget {wave.gates.failureBudget} ({wave.allowedFailures} allowed)
                    {wave.gates.timeout === null ? '' : ` · timeout ${wave.gates.timeout}`}
                  </td>
                  <td class="small">
                    <Clock wave={wave} now={now} />
                  </td>
                  <td class="small">
                    <WaveHolds members={(view.members ?? []).filter((m) => m.waveIndex === wave.index)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section class="card" aria-labelledby="members">
        <h2 id="members">Members needing attention</h2>
        {view.members === undefined || view.members.length === 0 ? (
          <p class="muted">None: no member is failed, blocked or waiting.</p>
        ) : (
          <div class="table-wrap">
            <table class="data">
              <caption class="sr-only">
                Members that are failed, blocked, pending or applied but not yet healthy
              </caption>
              <thead>
                <tr>
                  <th scope="col">Target</th>
                  <th scope="col">Wave</th>
                  <th scope="col">State</th>
                  <th scope="col">Reason</th>
                </tr>
              </thead>
              <tbody>
                {view.members.map((m) => (
                  <tr key={m.targetId}>
                    <td>
                      <a href={`/targets/${encodeURIComponent(m.targetId)}`}>{m.name}</a>
                    </td>
                    <td>{m.wave}</td>
                    <td>
                      <Badge value={m.state} />
                    </td>
                    <td>{m.reason === undefined ? <span class="muted">—</span> : <HoldReason reason={m.reason} />}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {view.membersTotal !== undefined && view.membersTotal > view.members.length ? (
              <p class="muted">and {view.membersTotal - view.members.length} more</p>
            ) : null}
          </div>
        )}
      </section>
    </main>
  );
}
