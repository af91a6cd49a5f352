import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/**
 * History routing under the console's base path (/admin/): the gateway answers every path below it
 * with index.html. Routes are written without the base: `/batches/batch_…`. The query string holds a
 * page's filters, so a filtered list can be bookmarked and shared (it never holds the token).
 */
const BASE = import.meta.env.BASE_URL.replace(/\/$/, '');

export interface Location {
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return { path: path === '' ? '/' : path, query: new URLSearchParams(location.search) };
}

const listeners = new Set<() => void>();
addEventListener('popstate', () => listeners.forEach((l) => l()));

export function href(to: string): string {
  return `${BASE}${to}`;
}

export function navigate(to: string, { replace = false } = {}): void {
  if (replace) history.replaceState(null, '', href(to));
  else history.pushState(null, '', href(to));
  listeners.forEach((l) => l());
  if (!replace) scrollTo(0, 0);
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const update = () => setLoc(current());
    listeners.add(update);
    return () => void listeners.delete(update);
  }, []);
  return loc;
}

/** `/batches?status=x` from a path and the non-empty entries of `params`. */
export function withQuery(path: string, params: Record<string, string | string[] | undefined | null>): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) if (v) query.append(key, v);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

interface LinkProps {
  to: string;
  children: ComponentChildren;
  class?: string;
  'aria-current'?: 'page';
  'data-status'?: string;
}

/** An ordinary link (open in a new tab works) that navigates in place on a plain click. */
export function Link({ to, children, ...rest }: LinkProps) {
  const onClick = (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a {...rest} href={href(to)} onClick={onClick}>
      {children}
    </a>
  );
}
