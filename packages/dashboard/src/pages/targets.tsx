import { useEffect, useState } from 'preact/hooks';
import { TargetBrowsePage } from '@flotilla/protocol/api';
import { get } from '../api.ts';
import { Badge } from '../components/badge.tsx';
import { QueryBar } from '../components/query-bar.tsx';
import { Time } from '../components/time.tsx';
import { VirtualTable, type Column, type TableWindow } from '../components/virtual-table.tsx';
import { count } from '../format.ts';
import { useLive, useThrottled } from '../live.ts';
import { location, navigate, param } from '../router.ts';
import type { TargetSummary } from '../types.ts';

const SORTS = new Set(['name', 'status', 'health', 'drift', 'region', 'tier', 'kubernetesVersion', 'lastSeen']);

const COLUMNS: readonly Column<TargetSummary>[] = [
  {
    key: 'name',
    label: 'Name',
    sortable: true,
    className: 'c-name',
    render: (t) => <a href={`/targets/${encodeURIComponent(t.id)}`}>{t.name}</a>,
  },
  { key: 'status', label: 'Status', sortable: true, className: 'c-small', render: (t) => <Badge value={t.status} /> },
  { key: 'health', label: 'Health', sortable: true, className: 'c-small', render: (t) => <Badge value={t.health} /> },
  {
    key: 'drift',
    label: 'Drift',
    sortable: true,
    className: 'c-small',
    render: (t) => (t.drift.length === 0 ? <span class="muted">—</span> : <Badge value={t.drift[0]} />),
  },
  {
    key: 'region',
    label: 'Region',
    sortable: true,
    className: 'c-mid',
    render: (t) => t.region ?? <span class="muted">—</span>,
  },
  {
    key: 'tier',
    label: 'Tier',
    sortable: true,
    className: 'c-small',
    render: (t) => t.tier ?? <span class="muted">—</span>,
  },
  {
    key: 'kubernetesVersion',
    label: 'Kubernetes',
    sortable: true,
    className: 'c-small',
    render: (t) => t.kubernetesVersion ?? <span class="muted">—</span>,
  },
  {
    key: 'running',
    label: 'Running',
    className: 'c-wide',
    render: (t) => (t.running.length === 0 ? <span class="muted">—</span> : t.running.join(', ')),
  },
  {
    key: 'generation',
    label: 'Gen.',
    className: 'c-num',
    render: (t) => `${t.observedGeneration ?? '–'}/${t.desiredGeneration}`,
  },
  {
    key: 'lastSeen',
    label: 'Last seen',
    sortable: true,
    className: 'c-mid',
    render: (t) => <Time iso={t.lastSeenAt} relative />,
  },
];

function browse(
  q: string,
  sort: string,
  order: string,
  offset: number,
  limit: number,
): Promise<TableWindow<TargetSummary> & { warnings: readonly string[] }> {
  return get('/v1/targets/browse', TargetBrowsePage, { q, sort, order, offset, limit }).then((page) => ({
    rows: page.items,
    total: page.total,
    warnings: page.warnings ?? [],
  }));
}

/**
 * The fleet as a table: the query bar (its text is in the address, so a view is a link),
 * sortable columns, and a virtualized body that pages through any number of targets.
 */
export function Targets() {
  const q = param('q');
  const sortParam = param('sort');
  const sort = SORTS.has(sortParam) ? sortParam : 'name';
  const order = param('order') === 'desc' ? 'desc' : 'asc';
  const [first, setFirst] = useState<
    { window: TableWindow<TargetSummary>; version: string; warnings: readonly string[] } | undefined
  >(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [tick, setTick] = useState(0);
  const version = `${q}\u0000${sort}\u0000${order}`;

  useEffect(() => {
    let stale = false;
    browse(q, sort, order, 0, 100)
      .then((window) => {
        if (stale) return;
        setFirst({ window, version, warnings: window.warnings });
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (!stale) setError(e);
      });
    return () => {
      stale = true;
    };
  }, [location.value.search]);

  const refresh = useThrottled(() => setTick((t) => t + 1), 1_000);
  useLive((type) => {
    if (type === 'report' || type === 'drift' || type === 'reset') refresh();
  });

  const go = (next: { q?: string; sort?: string; order?: string }): void => {
    const params = new URLSearchParams();
    const nq = next.q ?? q;
    if (nq !== '') params.set('q', nq);
    const ns = next.sort ?? sort;
    if (ns !== 'name') params.set('sort', ns);
    const no = next.order ?? order;
    if (no !== 'asc') params.set('order', no);
    const search = params.toString();
    navigate(search === '' ? '/targets' : `/targets?${search}`);
  };

  return (
    <main id="main" class="page page-targets">
      <div class="page-head">
        <h1>Targets</h1>
        <p class="muted" aria-live="polite" data-testid="target-total">
          {first === undefined
            ? ''
            : `${count(first.window.total)} ${first.window.total === 1 ? 'target' : 'targets'}${q === '' ? '' : ' match'}`}
        </p>
      </div>
      <QueryBar value={q} error={error} onSubmit={(next) => go({ q: next })} />
      {first === undefined || error !== undefined
        ? null
        : first.warnings.map((warning) => (
            <p key={warning} class="notice" role="status">
              {warning}
            </p>
          ))}
      {first === undefined || error !== undefined ? (
        error === undefined ? (
          <p class="muted">Loading…</p>
        ) : null
      ) : (
        <VirtualTable
          label="Targets"
          columns={COLUMNS}
          first={first.window}
          version={first.version}
          tick={tick}
          load={(offset, limit) => browse(q, sort, order, offset, limit)}
          rowKey={(t) => t.id}
          sort={{ key: sort, order }}
          onSort={(key) => go({ sort: key, order: key === sort && order === 'asc' ? 'desc' : 'asc' })}
        />
      )}
    </main>
  );
}
