import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { TypedDocumentString } from '../gql/graphql';
import { request } from './client';

export interface QueryState<R> {
  data: R | null;
  /** The last failure, kept until a load succeeds (the last data stays on the page meanwhile). */
  error: unknown;
  loading: boolean;
  /** Loads again now. */
  refresh: () => void;
}

export interface QueryOptions<R> {
  /** Milliseconds until the next load after one succeeds, from its data; null stops polling. */
  poll?: (data: R) => number | null;
}

/**
 * Loads `operation` with `variables` (again whenever their JSON changes) and, with `poll`, keeps loading it
 * while the tab is visible. An answer to older variables than the current ones is dropped.
 */
export function useQuery<R, V>(operation: TypedDocumentString<R, V>, variables: V, options: QueryOptions<R> = {}): QueryState<R> {
  const key = JSON.stringify(variables);
  const [state, setState] = useState<{ data: R | null; error: unknown; loading: boolean }>({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  const poll = useRef(options.poll);
  poll.current = options.poll;

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = () => {
      if (document.hidden) {
        timer = setTimeout(load, 1000);
        return;
      }
      setState((s) => ({ ...s, loading: true }));
      request(operation, JSON.parse(key) as V).then(
        (data) => {
          if (!live) return;
          setState({ data, error: null, loading: false });
          const next = poll.current?.(data);
          if (next != null) timer = setTimeout(load, next);
        },
        (error: unknown) => {
          if (!live) return;
          setState((s) => ({ ...s, error, loading: false }));
          // Keep polling through a failure (a restart of the gateway), more slowly.
          if (poll.current) timer = setTimeout(load, 5000);
        },
      );
    };
    load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [operation, key, tick]);

  const refresh = useCallback(() => {
    setState((s) => ({ ...s, loading: true }));
    setTick((t) => t + 1);
  }, []);
  return { ...state, refresh };
}

export interface Action {
  pending: boolean;
  error: unknown;
  /** Runs `work` unless one is already running; its failure is kept in `error` (cleared by the next run). */
  run: (work: () => Promise<unknown>) => Promise<boolean>;
  clear: () => void;
}

/** A button's work: pending while it runs, its failure kept for the page to show next to it. */
export function useAction(): Action {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const busy = useRef(false);
  const run = useCallback(async (work: () => Promise<unknown>) => {
    if (busy.current) return false;
    busy.current = true;
    setPending(true);
    setError(null);
    try {
      await work();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      busy.current = false;
      setPending(false);
    }
  }, []);
  const clear = useCallback(() => setError(null), []);
  return { pending, error, run, clear };
}
