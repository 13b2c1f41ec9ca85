import { useEffect, useRef, useState, type ReactNode } from 'react';
import { SessionProvider, useSession } from './session';
import { LiveProvider, useLiveState } from './live';
import { probeNow, reportReachable, useReachable } from './connectivity';
import { Link, matchRoute, navigate, useRoutePath } from './router';
import { LoginPage } from './pages/LoginPage';
import { ShopPage } from './pages/ShopPage';
import { OrdersPage } from './pages/OrdersPage';
import { OrderDetailPage } from './pages/OrderDetailPage';
import { SagaPage } from './pages/SagaPage';
import { EventsPage } from './pages/EventsPage';
import { ProjectionsPage } from './pages/ProjectionsPage';
import { MailboxPage } from './pages/MailboxPage';
import { AdminCatalogPage } from './pages/AdminCatalogPage';
import { ApiReferencePage } from './pages/ApiReferencePage';
import { OperatorPage } from './pages/OperatorPage';
import { TimeModeSwitch } from './time-mode';

export function App() {
  return (
    <SessionProvider>
      <LiveWithSession>
        <Shell />
      </LiveWithSession>
    </SessionProvider>
  );
}

function LiveWithSession({ children }: { children: ReactNode }) {
  const { session } = useSession();
  return <LiveProvider token={session?.token ?? null}>{children}</LiveProvider>;
}

interface NavItem {
  to: string;
  label: string;
  admin?: boolean;
}

const nav: NavItem[] = [
  { to: '/shop', label: 'Shop' },
  { to: '/orders', label: 'My orders' },
  { to: '/sagas', label: 'Sagas' },
  { to: '/events', label: 'Events' },
  { to: '/mailbox', label: 'Mailbox' },
  { to: '/operator', label: 'Operator', admin: true },
  { to: '/projections', label: 'Projections', admin: true },
  { to: '/admin/catalog', label: 'Catalog admin', admin: true },
  { to: '/api-reference', label: 'API' },
];

/** The page for a path; `null` means not found. */
function route(path: string): ReactNode {
  let m: Record<string, string> | null;
  if ((m = matchRoute('/shop', path))) return <ShopPage />;
  if ((m = matchRoute('/orders', path))) return <OrdersPage />;
  if ((m = matchRoute('/orders/:orderId', path))) return <OrderDetailPage key={m.orderId} orderId={m.orderId!} />;
  if ((m = matchRoute('/sagas', path))) return <SagaPage />;
  if ((m = matchRoute('/sagas/:orderId', path))) return <SagaPage orderId={m.orderId!} />;
  if ((m = matchRoute('/events', path))) return <EventsPage />;
  if ((m = matchRoute('/events/:streamId', path))) return <EventsPage streamId={m.streamId!} />;
  if ((m = matchRoute('/operator', path))) return <OperatorPage />;
  if ((m = matchRoute('/projections', path))) return <ProjectionsPage />;
  if ((m = matchRoute('/mailbox', path))) return <MailboxPage />;
  if ((m = matchRoute('/admin/catalog', path))) return <AdminCatalogPage />;
  if ((m = matchRoute('/api-reference', path))) return <ApiReferencePage />;
  return null;
}

function Shell() {
  const { session, signOut } = useSession();
  const path = useRoutePath();
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => {
    setMenuOpen(false);
  }, [path]);
  useEffect(() => {
    if (session && (path === '/' || path === '/login')) navigate('/shop');
  }, [session, path]);

  if (!session) return <LoginPage />;
  const isAdmin = session.user.role === 'admin';
  const page = route(path);
  const pathname = path.split('?')[0] ?? path;
  return (
    <div className="app">
      <header className="topbar">
        <Link to="/shop" className="brand">
          <span className="brand-dot" aria-hidden="true" /> Order saga
        </Link>
        <button type="button" className="menu-button" aria-expanded={menuOpen} aria-controls="main-nav" onClick={() => setMenuOpen((o) => !o)}>
          Menu
        </button>
        <nav id="main-nav" className={menuOpen ? 'nav open' : 'nav'} aria-label="Main">
          {nav
            .filter((n) => !n.admin || isAdmin)
            .map((n) => (
              <Link key={n.to} to={n.to} className={pathname === n.to || pathname.startsWith(`${n.to}/`) ? 'active' : undefined} aria-current={pathname === n.to ? 'page' : undefined} data-testid={`nav-${n.to.slice(1).replace('/', '-')}`}>
                {n.to === '/orders' && isAdmin ? 'All orders' : n.label}
              </Link>
            ))}
        </nav>
        <div className="user">
          <TimeModeSwitch />
          <LiveIndicator />
          <span className="user-email" data-testid="user-email" title={session.user.id}>
            {session.user.email}
          </span>
          {isAdmin ? <span className="badge badge-admin">admin</span> : null}
          <button type="button" className="button small" onClick={signOut} data-testid="sign-out">
            Sign out
          </button>
        </div>
      </header>
      <OfflineBanner />
      <main className="main" id="main">
        {page ?? (
          <div className="card">
            <h1>Not found</h1>
            <p>
              Nothing at <code>{path}</code>. <Link to="/shop">Back to the shop</Link>.
            </p>
          </div>
        )}
      </main>
    </div>
  );
}

function LiveIndicator() {
  const state = useLiveState();
  const text = state === 'open' ? 'live' : state === 'connecting' ? 'connecting' : 'offline';
  return (
    <span className={`live-dot live-${state}`} title={`Live updates: ${text}`} data-testid="live-state" data-state={state}>
      {text}
    </span>
  );
}

/** One clear notice while the server is unreachable; pages retry by themselves when it is back. */
function OfflineBanner() {
  const reachable = useReachable();
  const live = useLiveState();
  const wasOpen = useRef(false);
  useEffect(() => {
    if (live === 'open') {
      wasOpen.current = true;
      // The live stream is back: the server is, and pages waiting on it may retry.
      reportReachable(true);
    } else if (wasOpen.current && (live === 'connecting' || live === 'closed')) {
      fetch('/healthz', { cache: 'no-store' }).then(
        (res) => reportReachable(res.ok),
        () => reportReachable(false),
      );
    }
  }, [live]);
  if (reachable) return null;
  return (
    <div className="offline-banner" role="alert" data-testid="offline-banner">
      <strong>The server cannot be reached.</strong> Retrying by itself; what you see may be out of date.{' '}
      <button type="button" className="button small" onClick={probeNow}>
        Retry now
      </button>
    </div>
  );
}
