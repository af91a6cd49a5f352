/**
 * The admin token, for this tab only: sessionStorage (gone when the tab closes), sent as the bearer of
 * each /graphql request. No cookie carries it, and the console never puts it in a URL or a log.
 */
const TOKEN_KEY = 'batch-gateway.admin-token';

/** Why the operator is on the sign-in page: signed out by hand, or the gateway stopped accepting the token. */
export type SignOutReason = 'signed-out' | 'token-refused';

type Listener = (reason: SignOutReason | null) => void;
const listeners = new Set<Listener>();

export function currentToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signIn(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
  listeners.forEach((l) => l(null));
}

export function signOut(reason: SignOutReason): void {
  sessionStorage.removeItem(TOKEN_KEY);
  listeners.forEach((l) => l(reason));
}

/** Calls `listener` on every sign-in (with null) and sign-out (with its reason); returns the unsubscribe. */
export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
