import { useEffect, useState } from 'preact/hooks';
import { CreateRolloutResult, ReleaseList, RolloutList } from '@flotilla/protocol/api';
import { api, canDeploy, get } from '../api.ts';
import { Badge } from '../components/badge.tsx';
import { ErrorNote } from '../components/error-note.tsx';
import { Time } from '../components/time.tsx';
import { useLive, useThrottled } from '../live.ts';
import { navigate } from '../router.ts';
import type { Bundle, RolloutSummary } from '../types.ts';

/** The form that starts a rollout: a release, a selector, waves and gates (deployers only). */
function NewRollout() {
  const [bundles, setBundles] = useState<readonly Bundle[]>([]);
  const [release, setRelease] = useState('');
  const [selector, setSelector] = useState('');
  const [waves, setWaves] = useState('canary:20%,rest:100%');
  const [bake, setBake] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    get('/v1/bundles', ReleaseList).then((answer) => {
      const sorted = [...answer.items].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      setBundles(sorted);
      if (sorted[0] !== undefined) setRelease(`${sorted[0].name}@${sorted[0].version}`);
    }, setError);
  }, []);
  return (
    <form
      class="card form-grid"
      aria-labelledby="new-rollout"
      onSubmit={(event) => {
        event.preventDefault();
        setBusy(true);
        setError(undefined);
        api('POST', '/v1/rollouts', CreateRolloutResult, {
          release,
          selector,
          ...(waves.trim() === '' ? {} : { waves: waves.trim() }),
          ...(bake.trim() === '' ? {} : { bake: bake.trim() }),
        })
          .then((answer) => navigate(`/rollouts/${encodeURIComponent(answer.rollout.id)}`))
          .catch(setError)
          .finally(() => setBusy(false));
      }}
    >
      <h2 id="new-rollout">New rollout</h2>
      <label for="ro-release">Release</label>
      <select id="ro-release" value={release} onChange={(e) => setRelease(e.currentTarget.value)} required>
        {bundles.map((b) => (
          <option key={b.digest} value={`${b.name}@${b.version}`}>
            {b.name}@{b.version}
          </option>
        ))}
      </select>
      <label for="ro-selector">Targets (fleet query; empty is every target)</label>
      <input
        id="ro-selector"
        type="text"
        spellcheck={false}
        value={selector}
        onInput={(e) => setSelector(e.currentTarget.value)}
        placeholder="fleet=demo"
      />
      <label for="ro-waves">Waves</label>
      <input
        id="ro-waves"
        type="text"
        spellcheck={false}
        value={waves}
        onInput={(e) => setWaves(e.currentTarget.value)}
      />
      <label for="ro-bake">Bake time per wave (empty: the hub's default)</label>
      <input
        id="ro-bake"
        type="text"
        spellcheck={false}
        value={bake}
        onInput={(e) => setBake(e.currentTarget.value)}
        placeholder="5m"
      />
      <ErrorNote error={error} />
      <div>
        <button type="submit" class="primary" disabled={busy || release === ''}>
          Start rollout
        </button>
      </div>
    </form>
  );
}

/** Rollouts, newest first, following live rollout events; deployers can start one here. */
export function Rollouts() {
  const [items, setItems] = useState<readonly RolloutSummary[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const load = (): void => {
    get('/v1/rollouts', RolloutList, { limit: 100 }).then((answer) => setItems(answer.items), setError);
  };
  useEffect(load, []);
  const reload = useThrottled(load, 1_000);
  useLive((type) => {
    if (type === 'rollout' || type === 'reset') reload();
  });
  return (
    <main id="main" class="page">
      <div class="page-head">
        <h1>Rollouts</h1>
      </div>
      <ErrorNote error={error} />
      {canDeploy() ? <NewRollout /> : null}
      <section class="card" aria-labelledby="rollout-list">
        <h2 id="rollout-list">All rollouts</h2>
        {items === undefined ? (
          <p class="muted">Loading…</p>
        ) : items.length === 0 ? (
          <p class="muted">No rollouts yet.</p>
        ) : (
          <div class="table-wrap">
            <table class="data">
              <caption class="sr-only">Rollouts, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Rollout</th>
                  <th scope="col">Release</th>
                  <th scope="col">Selector</th>
                  <th scope="col">State</th>
                  <th scope="col">Wave</th>
                  <th scope="col">Members</th>
                  <th scope="col">Created</th>
                  <th scope="col">By</th>
                </tr>
              </thead>
              <tbody>
                {items.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <a href={`/rollouts/${encodeURIComponent(r.id)}`} class="mono">
                        {r.id}
                      </a>
                    </td>
                    <td class="mono">
                      {r.release.name}@{r.release.version}
                    </td>
                    <td class="mono">{r.selector === '' ? <span class="muted">every target</span> : r.selector}</td>
                    <td>
                      <Badge value={r.state} />
                    </td>
                    <td>
                      {r.currentWave === null ? '—' : `${r.currentWave.index + 1}/${r.waves} ${r.currentWave.name}`}
                    </td>
                    <td class="num">{r.members}</td>
                    <td>
                      <Time iso={r.createdAt} />
                    </td>
                    <td>{r.createdBy.id}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </main>
  );
}
