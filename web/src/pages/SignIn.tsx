import { type FormEvent, useEffect, useRef, useState } from 'react';
import { ApiError, api, type Viewer } from '../api.js';
import { errorMessage, Field } from '../ui.js';

/** Sign-in with an API key; the key lives in sessionStorage for this tab only. */
export function SignInPage({
  rejected,
  onSignedIn,
}: {
  rejected: boolean;
  onSignedIn: (key: string, viewer: Viewer) => void;
}) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [badKey, setBadKey] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const focusTarget = useRef<HTMLInputElement & HTMLButtonElement>(null);

  // Sign-in is the only thing to do on this page, so its control takes the focus (again when the view switches).
  // biome-ignore lint/correctness/useExhaustiveDependencies: badKey switches which control is rendered
  useEffect(() => {
    focusTarget.current?.focus();
  }, [badKey]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const k = key.trim();
    if (!k) {
      setError('Paste your API key to sign in.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const viewer = await api<Viewer>('/viewer', { key: k });
      onSignedIn(k, viewer);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setBadKey(true);
      else setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  if (badKey) {
    return (
      <div className="signin">
        <div className="signin-card" role="alert" aria-labelledby="bad-key-title">
          <div className="brand big">
            <span className="brand-dot" aria-hidden="true" /> Tripline
          </div>
          <h1 id="bad-key-title">That API key was not accepted</h1>
          <p>The server did not recognise the key you entered. Check that:</p>
          <ul>
            <li>you copied the whole key, without spaces</li>
            <li>
              the key belongs to this server — the first admin's key is in{' '}
              <code>&lt;data dir&gt;/admin-api-key</code> or was set with <code>TRIPLINE_ADMIN_API_KEY</code>
            </li>
            <li>
              the key has not been revoked. An admin can create a new user and key with{' '}
              <code>POST /api/v1/users</code>.
            </li>
          </ul>
          <button
            type="button"
            className="btn btn-primary"
            ref={focusTarget}
            onClick={() => {
              setBadKey(false);
              setKey('');
            }}
          >
            Try another key
          </button>
        </div>
      </div>
    );
  }

  return (
    <div className="signin">
      <form className="signin-card" onSubmit={submit} noValidate>
        <div className="brand big">
          <span className="brand-dot" aria-hidden="true" /> Tripline
        </div>
        <h1>Sign in</h1>
        {rejected && (
          <p className="notice" role="alert">
            Your session ended because the server no longer accepts your API key. Sign in again.
          </p>
        )}
        <Field
          label="API key"
          error={error}
          help="Kept in this browser tab only and sent with every request. The first admin's key is in <data dir>/admin-api-key."
        >
          {(p) => (
            <input
              {...p}
              type="password"
              autoComplete="current-password"
              ref={focusTarget}
              value={key}
              onChange={(e) => setKey(e.target.value)}
            />
          )}
        </Field>
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
