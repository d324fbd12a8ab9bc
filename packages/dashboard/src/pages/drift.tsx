import { useEffect, useState } from 'preact/hooks';
import { DriftList as DriftListSchema, IncidentChange, IncidentList, RevertResult } from '@flotilla/protocol/api';
import { api, canDeploy, get } from '../api.ts';
import { Badge } from '../components/badge.tsx';
import { DriftItems } from '../components/drift-items.tsx';
import { ErrorNote } from '../components/error-note.tsx';
import { FacetBars } from '../components/facet-bars.tsx';
import { Time } from '../components/time.tsx';
import { useLive, useThrottled } from '../live.ts';
import { condition, targetsHref } from '../query-text.ts';
import type { DriftItem, Incident } from '../types.ts';

interface DriftList {
  readonly items: readonly DriftItem[];
  readonly total: number;
  readonly targets: number;
}

const CLASSES = ['dangerous', 'suspicious', 'transient', 'acceptable'] as const;
const TONE: Readonly<Record<string, string>> = {
  dangerous: 'bad',
  suspicious: 'warn',
  transient: 'info',
  acceptable: 'good',
};

function OpenIncident({ onOpened }: { onOpened: () => void }) {
  const [id, setId] = useState('');
  const [selector, setSelector] = useState('');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  return (
    <form
      class="form-grid"
      aria-labelledby="open-incident"
      onSubmit={(event) => {
        event.preventDefault();
        setError(undefined);
        api('POST', '/v1/incidents', IncidentChange, { id: id.trim(), selector, reason: reason.trim() })
          .then(() => {
            setId('');
            setSelector('');
            setReason('');
            onOpened();
          })
          .catch(setError);
      }}
    >
      <h3 id="open-incident">Open an incident</h3>
      <p class="muted small">
        Every target the selector matches gets a hold: nothing is reverted there, and changes are reported as
        intentional until the incident closes.
      </p>
      <label for="inc-id">Incident id</label>
      <input
        id="inc-id"
        type="text"
        required
        value={id}
        onInput={(e) => setId(e.currentTarget.value)}
        placeholder="INC-1234"
      />
      <label for="inc-selector">Targets (fleet query)</label>
      <input
        id="inc-selector"
        type="text"
        spellcheck={false}
        value={selector}
        onInput={(e) => setSelector(e.currentTarget.value)}
        placeholder="region=eu-west-1"
      />
      <label for="inc-reason">Reason</label>
      <input id="inc-reason" type="text" required value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      <ErrorNote error={error} />
      <div>
        <button type="submit" class="primary">
          Open incident
        </button>
      </div>
    </form>
  );
}

/**
 * Drift across the fleet: counts by class, the changes not under a hold (most severe
 * first), the intentional changes held by incidents apart, and the incidents themselves.
 */
export function DriftPage() {
  const [drift, setDrift] = useState<DriftList | undefined>(undefined);
  const [held, setHeld] = useState<DriftList | undefined>(undefined);
  const [incidents, setIncidents] = useState<readonly Incident[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const load = (): void => {
    Promise.all([
      get('/v1/drift', DriftListSchema, { limit: 500 }),
      get('/v1/drift', DriftListSchema, { intentional: 'true', limit: 500 }),
      get('/v1/incidents', IncidentList, { state: 'all' }),
    ])
      .then(([all, intentional, inc]) => {
        setDrift(all);
        setHeld(intentional);
        setIncidents(inc.items);
        setError(undefined);
      })
      .catch(setError);
  };
  useEffect(load, []);
  const reload = useThrottled(load, 1_000);
  useLive((type) => {
    if (type === 'drift' || type === 'reset') reload();
  });

  const revert = (item: DriftItem): void => {
    api('POST', `/v1/targets/${encodeURIComponent(item.targetId)}/drift/revert`, RevertResult, { items: [item.id] })
      .then((answer) =>
        setNotice(
          `Revert of ${item.resourceKey} ${item.path} requested on ${item.target ?? item.targetId} (generation ${answer.generation}).`,
        ),
      )
      .catch(setError);
  };
  const close = (incident: Incident): void => {
    api('POST', `/v1/incidents/${encodeURIComponent(incident.id)}/close`, IncidentChange, {
      reason: 'closed from the dashboard',
    }).then(load, setError);
  };

  const unheld = drift?.items.filter((i) => i.holdId === undefined && i.intentional !== true) ?? [];
  const counts = new Map<string, number>();
  for (const item of unheld) counts.set(item.class, (counts.get(item.class) ?? 0) + 1);
  const deploy = canDeploy();
  return (
    <main id="main" class="page">
      <div class="page-head">
        <h1>Drift and incidents</h1>
        {drift === undefined ? null : (
          <p class="muted">
            {drift.total} drift items on {drift.targets} targets; {held?.total ?? 0} held as intentional.
          </p>
        )}
      </div>
      <ErrorNote error={error} />
      {notice === undefined ? null : (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <div class="grid-2">
        <FacetBars
          title="Drift by class (not held)"
          bars={CLASSES.map((c) => ({
            label: c,
            value: counts.get(c) ?? 0,
            href: targetsHref(condition('drift', c)),
            tone: TONE[c]!,
          }))}
        />
        <section class="card" aria-labelledby="incidents">
          <h2 id="incidents">Incidents</h2>
          {incidents === undefined ? (
            <p class="muted">Loading…</p>
          ) : incidents.length === 0 ? (
            <p class="muted">No incidents.</p>
          ) : (
            <ul class="incidents">
              {incidents.map((incident) => (
                <li key={incident.id}>
                  <strong class="mono">{incident.id}</strong>{' '}
                  <Badge value={incident.state} kind={incident.state === 'open' ? 'held' : 'closed'} />{' '}
                  <code>{incident.selector === '' ? '(every target)' : incident.selector}</code>
                  <div class="small">
                    {incident.reason} · opened <Time iso={incident.openedAt} /> by {incident.openedBy.id}
                    {incident.closedAt === undefined ? null : (
                      <>
                        {' '}
                        · closed <Time iso={incident.closedAt} />
                      </>
                    )}
                  </div>
                  {deploy && incident.state === 'open' ? (
                    <button type="button" onClick={() => close(incident)} aria-label={`Close incident ${incident.id}`}>
                      Close
                    </button>
                  ) : null}
                </li>
              ))}
            </ul>
          )}
          {deploy ? <OpenIncident onOpened={load} /> : null}
        </section>
      </div>
      <section class="card" aria-labelledby="drift-live">
        <h2 id="drift-live">Drift not under a hold</h2>
        <DriftItems
          items={unheld}
          showTarget
          onRevert={deploy ? revert : undefined}
          caption="Drift not under a hold, most severe first"
        />
      </section>
      <section class="card" aria-labelledby="drift-held">
        <h2 id="drift-held">Intentional changes under holds</h2>
        <p class="muted small">
          Adopt them into a new release with <code>flotilla drift adopt TARGET ITEM… --key release-key.json</code>{' '}
          (release keys never reach the hub or this page), or revert them.
        </p>
        <DriftItems
          items={held?.items ?? []}
          showTarget
          onRevert={deploy ? revert : undefined}
          caption="Drift held as intentional"
        />
      </section>
    </main>
  );
}
