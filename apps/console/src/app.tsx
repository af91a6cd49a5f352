import { useEffect, useState } from 'preact/hooks';
import { currentToken, onSessionChange, signOut, type SignOutReason } from './api/session';
import { AccountsPage } from './pages/accounts';
import { BatchDetailPage } from './pages/batch-detail';
import { BatchesPage } from './pages/batches';
import { OverviewPage } from './pages/overview';
import { RoutingPage } from './pages/routing';
import { SignInPage } from './pages/sign-in';
import { Link, useLocation } from './router';
import { Empty } from './ui/components';

const SECTIONS = [
  { to: '/', label: 'Overview', match: (p: string) => p === '/' },
  { to: '/batches', label: 'Batches', match: (p: string) => p.startsWith('/batches') },
  { to: '/accounts', label: 'Accounts', match: (p: string) => p.startsWith('/accounts') },
  { to: '/routing', label: 'Routing', match: (p: string) => p.startsWith('/routing') },
];

function Page({ path }: { path: string }) {
  const batch = /^\/batches\/([^/]+)$/.exec(path);
  const account = /^\/accounts\/([^/]+)$/.exec(path);
  if (path === '/') return <OverviewPage />;
  if (path === '/batches') return <BatchesPage />;
  if (batch) return <BatchDetailPage id={decodeURIComponent(batch[1])} />;
  if (path === '/accounts') return <AccountsPage selected={null} />;
  if (account) return <AccountsPage selected={decodeURIComponent(account[1])} />;
  if (path === '/routing') return <RoutingPage />;
  return (
    <Empty title="There is no such page in the console.">
      <Link to="/">Go to the overview</Link>.
    </Empty>
  );
}

export function App() {
  const [signedIn, setSignedIn] = useState(() => currentToken() !== null);
  const [reason, setReason] = useState<SignOutReason | null>(null);
  const { path } = useLocation();

  useEffect(
    () =>
      onSessionChange((why) => {
        setSignedIn(why === null);
        setReason(why);
      }),
    [],
  );

  useEffect(() => {
    const section = SECTIONS.find((s) => s.match(path));
    document.title = section ? `${section.label} · Batch Gateway` : 'Batch Gateway';
  }, [path]);

  if (!signedIn) return <SignInPage reason={reason} />;
  return (
    <>
      <header class="top">
        <Link to="/" class="brand">
          Batch Gateway
        </Link>
        <nav aria-label="Sections">
          {SECTIONS.map((s) => (
            <Link key={s.to} to={s.to} class={s.match(path) ? 'current' : undefined} aria-current={s.match(path) ? 'page' : undefined}>
              {s.label}
            </Link>
          ))}
        </nav>
        <button type="button" class="sign-out" onClick={() => signOut('signed-out')}>
          Sign out
        </button>
      </header>
      <main>
        <Page path={path} />
      </main>
    </>
  );
}
