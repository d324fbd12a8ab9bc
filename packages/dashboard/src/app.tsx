import { useEffect } from 'preact/hooks';
import { DashboardSession } from '@flotilla/protocol/api';
import { api, session } from './api.ts';
import { connectLive, disconnectLive, liveState } from './live.ts';
import { location, navigate } from './router.ts';
import { theme, toggleTheme } from './theme.ts';
import { SignIn } from './pages/sign-in.tsx';
import { Overview } from './pages/overview.tsx';
import { Targets } from './pages/targets.tsx';
import { TargetPage } from './pages/target.tsx';
import { Rollouts } from './pages/rollouts.tsx';
import { RolloutPage } from './pages/rollout.tsx';
import { DriftPage } from './pages/drift.tsx';
import { AuditPage } from './pages/audit.tsx';

const NAV = [
  ['/', 'Overview'],
  ['/targets', 'Targets'],
  ['/rollouts', 'Rollouts'],
  ['/drift', 'Drift & incidents'],
  ['/audit', 'Audit'],
] as const;

function current(path: string, href: string): boolean {
  return href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`);
}

function Page({ path }: { path: string }) {
  const target = /^\/targets\/([^/]+)$/.exec(path);
  if (target !== null) return <TargetPage id={decodeURIComponent(target[1]!)} />;
  const rollout = /^\/rollouts\/([^/]+)$/.exec(path);
  if (rollout !== null) return <RolloutPage id={decodeURIComponent(rollout[1]!)} />;
  switch (path) {
    case '/':
      return <Overview />;
    case '/targets':
      return <Targets />;
    case '/rollouts':
      return <Rollouts />;
    case '/drift':
      return <DriftPage />;
    case '/audit':
      return <AuditPage />;
    default:
      return (
        <main id="main" class="page">
          <h1>Not found</h1>
          <p>
            There is no page at <code>{path}</code>. <a href="/">Go to the overview.</a>
          </p>
        </main>
      );
  }
}

async function signOut(): Promise<void> {
  try {
    await api('DELETE', '/v1/session', null);
  } finally {
    disconnectLive();
    session.value = null;
    navigate('/sign-in');
  }
}

/** The dashboard: sign-in until there is a session, then the navigation and the page at the address. */
export function App() {
  const me = session.value;
  const { path } = location.value;

  useEffect(() => {
    api('GET', '/v1/session', DashboardSession)
      .then((info) => {
        session.value = info;
      })
      .catch(() => {
        session.value = null;
      });
  }, []);

  useEffect(() => {
    if (me === null || me === undefined) return;
    connectLive();
    if (path === '/sign-in') navigate('/', true);
  }, [me === null || me === undefined]);

  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null) return <SignIn />;

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a href="/" class="brand" aria-label="Flotilla overview">
          Flotilla
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([href, label]) => (
              <li key={href}>
                <a href={href} aria-current={current(path, href) ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span class={`live live-${liveState.value}`} role="status" title="Live updates from the hub">
            {liveState.value === 'live' ? 'live' : liveState.value === 'connecting' ? 'connecting…' : 'offline'}
          </span>
          <span>
            {me.name} <span class="badge badge-role">{me.role}</span>
            {me.scope === undefined ? null : (
              <>
                {' '}
                <span class="badge" data-testid="session-scope" title="This token sees only these targets">
                  limited to <code>{me.scope}</code>
                </span>
              </>
            )}
          </span>
          <button
            type="button"
            onClick={toggleTheme}
            aria-label={`Switch to ${theme.value === 'dark' ? 'light' : 'dark'} theme`}
          >
            {theme.value === 'dark' ? 'Light' : 'Dark'}
          </button>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <Page path={path} />
    </div>
  );
}
