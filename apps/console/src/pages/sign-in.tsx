import { useState } from 'preact/hooks';
import { request } from '../api/client';
import { useAction } from '../api/hooks';
import { signIn, type SignOutReason } from '../api/session';
import { SignInCheckDocument } from '../gql/graphql';
import { Problem } from '../ui/components';

/** The admin token is checked with a one-field query before it is kept for the tab. */
export function SignInPage({ reason }: { reason: SignOutReason | null }) {
  const [token, setToken] = useState('');
  const check = useAction();

  const submit = (e: Event) => {
    e.preventDefault();
    const candidate = token.trim();
    void check.run(async () => {
      await request(SignInCheckDocument, {}, candidate);
      signIn(candidate);
    });
  };

  return (
    <main class="sign-in">
      <form onSubmit={submit} class="card">
        <h1>Batch Gateway console</h1>
        {reason === 'token-refused' && !check.error ? (
          <p class="problem" role="alert">
            The gateway no longer accepts the admin token of this session. Sign in again.
          </p>
        ) : null}
        <label class="field">
          <span class="field-label">Admin token</span>
          <input
            type="password"
            name="admin-token"
            autoComplete="off"
            spellcheck={false}
            required
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
          />
          <span class="field-hint">The gateway's ADMIN_TOKEN. It is kept in this tab only, until you sign out or close it.</span>
        </label>
        <Problem error={check.error} />
        <button type="submit" class="primary" disabled={check.pending || token.trim() === ''}>
          {check.pending ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
