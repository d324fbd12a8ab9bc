import { useEffect, useState } from 'preact/hooks';
import { FacetCounts } from '@flotilla/protocol/api';
import { get } from '../api.ts';
import { ErrorNote } from '../components/error-note.tsx';
import { FacetBars, type FacetBar } from '../components/facet-bars.tsx';
import { count } from '../format.ts';
import { useLive, useThrottled } from '../live.ts';
import { condition, LAST_SEEN_QUERIES, narrow, targetsHref } from '../query-text.ts';
import { location, param } from '../router.ts';
import type { Facets } from '../types.ts';

const TONES: Readonly<Record<string, string>> = {
  healthy: 'good',
  active: 'good',
  progressing: 'info',
  degraded: 'bad',
  missing: 'bad',
  unknown: 'warn',
  disabled: 'warn',
  revoked: 'bad',
  dangerous: 'bad',
  suspicious: 'warn',
  transient: 'info',
  acceptable: 'good',
};

function bars(values: Record<string, number> | undefined, field: string, base: string): FacetBar[] {
  return Object.entries(values ?? {})
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([label, value]) => ({
      label,
      value,
      href: targetsHref(narrow(base, condition(field, label))),
      ...(TONES[label] === undefined ? {} : { tone: TONES[label] }),
    }));
}

/**
 * The fleet at a glance: counts by status, health, drift class, region, tier, Kubernetes
 * version, release and last-seen age. Every bar is a link to the targets it counts. Counts
 * follow live events, re-read at most every two seconds.
 */
export function Overview() {
  const base = param('q');
  const [facets, setFacets] = useState<Facets | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const load = (): void => {
    get('/v1/targets/facets', FacetCounts, { q: base })
      .then((answer) => {
        setFacets(answer);
        setError(undefined);
      })
      .catch(setError);
  };
  useEffect(load, [location.value.search]);
  const reload = useThrottled(load, 2_000);
  useLive((type) => {
    if (type !== 'audit' && type !== 'ready') reload();
  });

  const releases: FacetBar[] = [];
  for (const [name, versions] of Object.entries(facets?.running ?? {})) {
    for (const [version, n] of Object.entries(versions))
      releases.push({
        label: `${name}@${version}`,
        value: n,
        href: targetsHref(narrow(base, `running.${name}=${version}`)),
      });
  }
  releases.sort((a, b) => b.value - a.value);
  const seen: FacetBar[] = Object.entries(LAST_SEEN_QUERIES).map(([key, { label, query }]) => ({
    label,
    value: facets?.lastSeen[key as keyof Facets['lastSeen']] ?? 0,
    href: targetsHref(narrow(base, query)),
    tone: key === '5m' ? 'good' : key === 'never' || key === 'older' ? 'bad' : 'warn',
  }));

  return (
    <main id="main" class="page">
      <div class="page-head">
        <h1>Fleet overview</h1>
        {base === '' ? null : (
          <p>
            Narrowed to <code>{base}</code> · <a href="/">whole fleet</a>
          </p>
        )}
      </div>
      <ErrorNote error={error} />
      {facets === undefined ? (
        error === undefined ? (
          <p class="muted">Loading…</p>
        ) : null
      ) : (
        <>
          <section class="totals" aria-label="Totals" data-testid="overview-ready">
            <a class="card total" href={targetsHref(base)}>
              <span class="total-number">{count(facets.total)}</span>
              <span class="muted">targets</span>
            </a>
            <a class="card total" href={targetsHref(narrow(base, 'health!=healthy'))}>
              <span class="total-number">{count(facets.total - (facets.health['healthy'] ?? 0))}</span>
              <span class="muted">not healthy</span>
            </a>
            <a class="card total" href={targetsHref(narrow(base, 'drift in (dangerous, suspicious)'))}>
              <span class="total-number">
                {count((facets.drift['dangerous'] ?? 0) + (facets.drift['suspicious'] ?? 0))}
              </span>
              <span class="muted">with suspicious or dangerous drift (may overlap)</span>
            </a>
          </section>
          <div class="facet-grid">
            <FacetBars title="Status" bars={bars(facets.status, 'status', base)} />
            <FacetBars title="Health" bars={bars(facets.health, 'health', base)} />
            <FacetBars title="Drift class" bars={bars(facets.drift, 'drift', base)} empty="no drift reported" />
            <FacetBars title="Last seen" bars={seen} />
            <FacetBars title="Region" bars={bars(facets.region, 'region', base)} empty="no target has a region" />
            <FacetBars title="Tier" bars={bars(facets.tier, 'tier', base)} empty="no target has a tier" />
            <FacetBars
              title="Kubernetes version"
              bars={bars(facets.kubernetesVersion, 'facts.kubernetesVersion', base)}
              empty="no agent reported a Kubernetes version"
            />
            <FacetBars title="Running release" bars={releases} empty="no release reported running" />
          </div>
        </>
      )}
    </main>
  );
}
