import { useEffect, useState } from 'preact/hooks';
import { Target as TargetSchema } from '@flotilla/protocol';
import { AuditPage as AuditPageSchema, RevertResult, TargetDriftView } from '@flotilla/protocol/api';
import { api, canDeploy, get } from '../api.ts';
import { AuditTable } from '../components/audit-table.tsx';
import { Badge } from '../components/badge.tsx';
import { DriftItems } from '../components/drift-items.tsx';
import { ErrorNote } from '../components/error-note.tsx';
import { Time } from '../components/time.tsx';
import { useLive, useThrottled } from '../live.ts';
import type { AuditPage, DriftItem, Target, TargetDrift } from '../types.ts';

function KeyValues({ values, empty }: { values: Record<string, unknown>; empty: string }) {
  const entries = Object.entries(values);
  if (entries.length === 0) return <p class="muted">{empty}</p>;
  return (
    <dl class="kv">
      {entries.map(([key, value]) => (
        <div key={key}>
          <dt>{key}</dt>
          <dd class="mono">{typeof value === 'string' ? value : JSON.stringify(value)}</dd>
        </div>
      ))}
    </dl>
  );
}

/**
 * One target: its record (labels, properties, facts, releases, generation, last report),
 * its current drift with classes and holds, and its history from the audit trail. Follows
 * live events that name it.
 */
export function TargetPage({ id }: { id: string }) {
  const [target, setTarget] = useState<Target | undefined>(undefined);
  const [drift, setDrift] = useState<TargetDrift | undefined>(undefined);
  const [history, setHistory] = useState<AuditPage | undefined>(undefined);
  const [older, setOlder] = useState<AuditPage>({ entries: [], nextCursor: null });
  const [error, setError] = useState<unknown>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);

  const load = (): void => {
    Promise.all([
      get(`/v1/targets/${encodeURIComponent(id)}`, TargetSchema),
      get(`/v1/targets/${encodeURIComponent(id)}/drift`, TargetDriftView),
      get(`/v1/targets/${encodeURIComponent(id)}/history`, AuditPageSchema, { limit: 50 }),
    ])
      .then(([t, d, h]) => {
        setTarget(t);
        setDrift(d);
        setHistory(h);
        setError(undefined);
      })
      .catch(setError);
  };
  useEffect(() => {
    setOlder({ entries: [], nextCursor: null });
    load();
  }, [id]);
  const reload = useThrottled(load, 1_000);
  useLive((type, data) => {
    const subjects = Array.isArray(data['subjects']) ? (data['subjects'] as string[]) : [];
    if (type === 'reset' || data['targetId'] === id || subjects.includes(id)) reload();
  });

  const revert = (item: DriftItem): void => {
    api('POST', `/v1/targets/${encodeURIComponent(id)}/drift/revert`, RevertResult, { items: [item.id] })
      .then((answer) => setNotice(`Revert requested in generation ${answer.generation}.`))
      .catch(setError);
  };

  if (target === undefined) {
    return (
      <main id="main" class="page">
        <h1>Target</h1>
        <ErrorNote error={error} />
        {error === undefined ? <p class="muted">Loading…</p> : null}
      </main>
    );
  }
  const held = drift?.items.filter((i) => i.holdId !== undefined || i.intentional === true) ?? [];
  const live = drift?.items.filter((i) => i.holdId === undefined && i.intentional !== true) ?? [];
  // Live reloads refresh the newest page; older pages, once read, stay as they were.
  const cursor = older.entries.length === 0 ? history?.nextCursor : older.nextCursor;
  const moreHistory = (): void => {
    if (cursor === undefined || cursor === null) return;
    get(`/v1/targets/${encodeURIComponent(id)}/history`, AuditPageSchema, { limit: 50, cursor }).then(
      (page) => setOlder({ entries: [...older.entries, ...page.entries], nextCursor: page.nextCursor }),
      setError,
    );
  };

  return (
    <main id="main" class="page">
      <div class="page-head">
        <h1>
          {target.name} <Badge value={target.status} />
        </h1>
        <p class="muted mono">{target.id}</p>
      </div>
      <ErrorNote error={error} />
      {notice === undefined ? null : (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <div class="grid-2">
        <section class="card" aria-labelledby="record">
          <h2 id="record">Record</h2>
          <dl class="kv">
            <div>
              <dt>Health</dt>
              <dd>
                <Badge value={target.observed?.health} /> <Badge value={target.observed?.phase} />
              </dd>
            </div>
            <div>
              <dt>Generation</dt>
              <dd>
                desired {target.desired.generation}, applied {target.observed?.generation ?? '—'}
              </dd>
            </div>
            <div>
              <dt>Desired releases</dt>
              <dd class="mono">{target.desired.bundles.map((b) => `${b.name}@${b.version}`).join(', ') || '—'}</dd>
            </div>
            <div>
              <dt>Running releases</dt>
              <dd class="mono">{target.observed?.bundles.map((b) => `${b.name}@${b.version}`).join(', ') || '—'}</dd>
            </div>
            <div>
              <dt>Last report</dt>
              <dd>
                {target.observed === null ? (
                  'none yet'
                ) : (
                  <>
                    seq {target.observed.seq}, <Time iso={target.observed.reportedAt} />
                  </>
                )}
              </dd>
            </div>
            <div>
              <dt>Last seen</dt>
              <dd>
                <Time iso={target.lastSeenAt} relative />
              </dd>
            </div>
            <div>
              <dt>Enrolled</dt>
              <dd>
                <Time iso={target.enrolledAt} />
              </dd>
            </div>
            <div>
              <dt>Last changed</dt>
              <dd>
                <Time iso={target.lastChangedAt} /> by {target.lastChangedBy.id}
              </dd>
            </div>
            <div>
              <dt>Key</dt>
              <dd class="mono">{target.keyId}</dd>
            </div>
          </dl>
        </section>
        <section class="card" aria-labelledby="meta">
          <h2 id="meta">Labels</h2>
          <KeyValues values={target.labels} empty="No labels." />
          <h2>Properties</h2>
          <KeyValues values={target.properties} empty="No properties." />
          <h2>Facts</h2>
          <KeyValues values={target.facts} empty="No facts reported yet." />
        </section>
      </div>
      <section class="card" aria-labelledby="drift-now">
        <h2 id="drift-now">Current drift</h2>
        {drift === undefined || drift.reportedAt === null ? (
          <p class="muted">No drift report yet.</p>
        ) : (
          <p class="muted">
            From report {drift.seq}, <Time iso={drift.reportedAt} />:{' '}
            {Object.entries(drift.counts)
              .filter(([, n]) => n > 0)
              .map(([c, n]) => `${n} ${c}`)
              .join(', ') || 'no drift'}
            {drift.omitted > 0 ? ` (${drift.omitted} more not listed)` : ''}
          </p>
        )}
        <h3>Changes not under a hold</h3>
        <DriftItems
          items={live}
          showTarget={false}
          onRevert={canDeploy() ? revert : undefined}
          caption="Current drift not under a hold"
        />
        <h3>Held as intentional</h3>
        <DriftItems
          items={held}
          showTarget={false}
          onRevert={canDeploy() ? revert : undefined}
          caption="Drift held as intentional"
        />
      </section>
      <section class="card" aria-labelledby="history">
        <h2 id="history">History</h2>
        <AuditTable
          entries={[
            ...(history?.entries ?? []),
            ...older.entries.filter((e) => e.seq < (history?.entries.at(-1)?.seq ?? Infinity)),
          ]}
          caption="Audit entries naming this target, newest first"
        />
        {cursor !== undefined && cursor !== null ? (
          <button type="button" onClick={moreHistory}>
            Older entries
          </button>
        ) : null}
      </section>
    </main>
  );
}
