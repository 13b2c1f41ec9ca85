import { useEffect, useState, type AnchorHTMLAttributes, type ReactNode } from 'react';

/**
 * Hash routing (`#/orders/123`): the gateway only has to serve index.html at `/`, and a
 * reload keeps the page. Small enough that a router package would be more code to read.
 */
export function currentPath(): string {
  const hash = window.location.hash.replace(/^#/, '');
  return hash.startsWith('/') ? hash : '/';
}

export function useRoutePath(): string {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const onChange = () => setPath(currentPath());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return path;
}

export function navigate(to: string): void {
  window.location.hash = to;
}

/** Matches `/orders/:orderId` against a path; returns the decoded params or null. Query strings are ignored. */
export function matchRoute(pattern: string, path: string): Record<string, string> | null {
  const [pathname = ''] = path.split('?');
  const want = pattern.split('/').filter(Boolean);
  const got = pathname.split('/').filter(Boolean);
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w.startsWith(':')) params[w.slice(1)] = decodeURIComponent(g);
    else if (w !== g) return null;
  }
  return params;
}

export function Link({ to, children, ...rest }: { to: string; children: ReactNode } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  return (
    <a href={`#${to}`} {...rest}>
      {children}
    </a>
  );
}

/** A query parameter of the hash route (`#/sagas/1?step=3` -> step = "3"). */
export function hashParam(name: string): string | null {
  const hash = window.location.hash;
  const q = hash.indexOf('?');
  return q < 0 ? null : new URLSearchParams(hash.slice(q + 1)).get(name);
}

/**
 * Records a view position (a replay step, a revision) in the hash route so a link or a reload
 * opens it again; replaceState, so it neither fills the history nor fires hashchange.
 */
export function setHashParam(name: string, value: string | null): void {
  const hash = window.location.hash.replace(/^#/, '');
  const [path = '/', query = ''] = hash.split('?');
  const params = new URLSearchParams(query);
  if (value === null) params.delete(name);
  else params.set(name, value);
  const qs = params.toString();
  window.history.replaceState(window.history.state, '', `#${path}${qs ? `?${qs}` : ''}`);
}
