import { useState } from 'preact/hooks';
import { session, signIn } from '../api.ts';
import { ErrorNote } from '../components/error-note.tsx';

/**
 * Sign-in with an operator API token. The token goes to the hub once, in the body; the hub
 * answers a session cookie the page's scripts cannot read, and nothing is stored here.
 */
export function SignIn() {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  return (
    <main id="main" class="sign-in">
      <form
        class="card"
        onSubmit={(event) => {
          event.preventDefault();
          setBusy(true);
          setError(undefined);
          signIn(token.trim())
            .then((info) => {
              setToken('');
              session.value = info;
            })
            .catch((e: unknown) => setError(e))
            .finally(() => setBusy(false));
        }}
      >
        <h1>Sign in to Flotilla</h1>
        <p class="muted">
          Use an operator API token. An admin hub's first token is in its data directory, in <code>admin-token</code>.
        </p>
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          required
          minLength={8}
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
