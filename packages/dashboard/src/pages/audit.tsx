import { useEffect, useRef, useState } from 'preact/hooks';
import { AuditLatestCheckpoint, AuditPage as AuditPageSchema } from '@flotilla/protocol/api';
import { AuditVerifyResult } from '@flotilla/protocol/audit';
import { get, isAdmin } from '../api.ts';
import { AuditTable } from '../components/audit-table.tsx';
import { Badge } from '../components/badge.tsx';
import { ErrorNote } from '../components/error-note.tsx';
import { Time } from '../components/time.tsx';
import { useLive, useThrottled } from '../live.ts';
import { location, navigate, param } from '../router.ts';
import type { AuditPage as Page, Checkpoint, Verify } from '../types.ts';

const FILTERS = ['action', 'actor', 'outcome', 'q', 'since', 'until'] as const;
type Filter = (typeof FILTERS)[number];

/** A `datetime-local` value (viewer's zone) as RFC 3339, or empty. */
function toRfc3339(local: string): string {
  if (local === '') return '';
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

function toLocalInput(iso: string): string {
  const date = new Date(iso);
  if (iso === '' || Number.isNaN(date.getTime())) return '';
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/**
 * The audit trail: filters in the address, pages by cursor (older and newer), the latest
 * signed checkpoint, the chain's verification (admins), and a download of the filtered
 * export (admins).
 */
export function AuditPage() {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, param(f)])) as Record<Filter, string>;
  const cursor = param('cursor');
  const limit = Math.min(1000, Math.max(1, Number(param('limit')) || 50));
  const [page, setPage] = useState<Page | undefined>(undefined);
  const [checkpoint, setCheckpoint] = useState<Checkpoint | undefined>(undefined);
  const [verify, setVerify] = useState<Verify | 'running' | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [draft, setDraft] = useState(filters);
  const [trail, setTrail] = useState<string[]>([]);

  const load = (): void => {
    get('/v1/audit', AuditPageSchema, { ...filters, limit, cursor: cursor === '' ? undefined : cursor }).then(
      (answer) => {
        setPage(answer);
        setError(undefined);
      },
      setError,
    );
    get('/v1/audit/checkpoints/latest', AuditLatestCheckpoint).then(setCheckpoint, setError);
  };
  // The draft follows the address when it changes, never on mount: the mount's effect runs a
  // frame late and would wipe what was typed in that frame.
  const shownSearch = useRef(location.value.search);
  useEffect(() => {
    if (shownSearch.current !== location.value.search) {
      shownSearch.current = location.value.search;
      setDraft(filters);
    }
    load();
  }, [location.value.search]);
  useEffect(() => {
    if (!isAdmin()) return;
    setVerify('running');
    get('/v1/audit/verify', AuditVerifyResult).then(setVerify, (e: unknown) => {
      setVerify(undefined);
      setError(e);
    });
  }, []);
  const reload = useThrottled(load, 1_000);
  useLive((type) => {
    // New entries appear at the head; a page deeper in the log does not move.
    if ((type === 'audit' || type === 'reset') && cursor === '') reload();
  });

  const go = (next: Record<string, string>): void => {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(next)) if (value !== '') params.set(key, value);
    const search = params.toString();
    navigate(search === '' ? '/audit' : `/audit?${search}`);
  };
  const exportParams = new URLSearchParams();
  for (const key of ['since', 'until', 'q'] as const) if (filters[key] !== '') exportParams.set(key, filters[key]);
  const exportHref = `/v1/audit/export${exportParams.toString() === '' ? '' : `?${exportParams.toString()}`}`;

  return (
    <main id="main" class="page">
      <div class="page-head">
        <h1>Audit trail</h1>
      </div>
      <div class="grid-2">
        <section class="card" aria-labelledby="chain">
          <h2 id="chain">Chain</h2>
          <dl class="kv">
            <div>
              <dt>Head</dt>
              <dd class="mono">
                {checkpoint === undefined ? '…' : `seq ${checkpoint.head.seq} ${checkpoint.head.hash.slice(0, 23)}…`}
              </dd>
            </div>
            <div>
              <dt>Latest signed checkpoint</dt>
              <dd class="mono" data-testid="checkpoint">
                {checkpoint?.checkpoint === null || checkpoint === undefined ? (
                  'none yet'
                ) : (
                  <>
                    seq {checkpoint.checkpoint.checkpoint.seq} {checkpoint.checkpoint.checkpoint.hash.slice(0, 23)}…{' '}
                    {checkpoint.checkpoint.checkpoint.time === undefined ? null : (
                      <Time iso={checkpoint.checkpoint.checkpoint.time} />
                    )}{' '}
                    ({checkpoint.reason})
                  </>
                )}
              </dd>
            </div>
            <div>
              <dt>Verification</dt>
              <dd data-testid="verify">
                {!isAdmin() ? (
                  <span class="muted">needs the admin role (or verify an export offline: flotilla audit verify)</span>
                ) : verify === 'running' || verify === undefined ? (
                  'verifying…'
                ) : verify.ok ? (
                  <Badge value="verified" kind="success" />
                ) : (
                  <>
                    <Badge value="problems" kind="failure" />{' '}
                    {verify.problems
                      .slice(0, 3)
                      .map((p) => p.message)
                      .join('; ')}
                  </>
                )}
              </dd>
            </div>
          </dl>
          {isAdmin() ? (
            <p>
              <a class="button" href={exportHref} download>
                Download export{exportParams.toString() === '' ? '' : ' (filtered by time and query)'}
              </a>
            </p>
          ) : null}
        </section>
        <form
          class="card form-grid"
          aria-labelledby="audit-filters"
          onSubmit={(event) => {
            event.preventDefault();
            setTrail([]);
            go({ ...draft, limit: param('limit') });
          }}
        >
          <h2 id="audit-filters">Filter</h2>
          <label for="f-action">Action (exact, or a family such as rollout.*)</label>
          <input
            id="f-action"
            type="text"
            value={draft.action}
            onInput={(e) => setDraft({ ...draft, action: e.currentTarget.value })}
          />
          <label for="f-actor">Actor id</label>
          <input
            id="f-actor"
            type="text"
            value={draft.actor}
            onInput={(e) => setDraft({ ...draft, actor: e.currentTarget.value })}
          />
          <label for="f-outcome">Outcome</label>
          <select
            id="f-outcome"
            value={draft.outcome}
            onChange={(e) => setDraft({ ...draft, outcome: e.currentTarget.value })}
          >
            <option value="">any</option>
            <option value="success">success</option>
            <option value="refused">refused</option>
            <option value="failure">failure</option>
          </select>
          <label for="f-q">Targets (fleet query)</label>
          <input
            id="f-q"
            type="text"
            spellcheck={false}
            value={draft.q}
            onInput={(e) => setDraft({ ...draft, q: e.currentTarget.value })}
          />
          <label for="f-since">Since (your time zone)</label>
          <input
            id="f-since"
            type="datetime-local"
            value={toLocalInput(draft.since)}
            onInput={(e) => setDraft({ ...draft, since: toRfc3339(e.currentTarget.value) })}
          />
          <label for="f-until">Until</label>
          <input
            id="f-until"
            type="datetime-local"
            value={toLocalInput(draft.until)}
            onInput={(e) => setDraft({ ...draft, until: toRfc3339(e.currentTarget.value) })}
          />
          <div class="buttons">
            <button type="submit" class="primary">
              Apply filters
            </button>
            <button type="button" onClick={() => go({})}>
              Reset
            </button>
          </div>
        </form>
      </div>
      <ErrorNote error={error} />
      <section class="card" aria-labelledby="entries">
        <h2 id="entries">Entries, newest first</h2>
        {page === undefined ? (
          <p class="muted">Loading…</p>
        ) : (
          <AuditTable entries={page.entries} caption="Audit entries" />
        )}
        <nav class="pager" aria-label="Audit pages">
          <button
            type="button"
            disabled={cursor === ''}
            onClick={() => {
              const previous = trail.slice(0, -1);
              setTrail(previous);
              go({ ...filters, limit: param('limit'), cursor: trail.at(-1) ?? '' });
            }}
          >
            Newer
          </button>
          <button
            type="button"
            disabled={page?.nextCursor === null || page === undefined}
            onClick={() => {
              setTrail([...trail, cursor]);
              go({ ...filters, limit: param('limit'), cursor: page!.nextCursor! });
            }}
          >
            Older
          </button>
        </nav>
      </section>
    </main>
  );
}
