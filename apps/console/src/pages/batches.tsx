import { useState } from 'preact/hooks';
import { useQuery } from '../api/hooks';
import { AccountsDocument, BatchesDocument, type BatchFilter } from '../gql/graphql';
import { BATCH_STATUSES, dateTime, fromLocalInput, LIVE_POLL_MS, LIVE_STATUSES, statusLabel } from '../format';
import { Link, navigate, useLocation, withQuery } from '../router';
import { Empty, Id, Loading, Problem, Progress, StatusBadge, TableBox } from '../ui/components';

const PAGE_SIZE = 20;
/** Wide enough to show the filters open; on a phone they start folded, unless some are applied. */
const WIDE = matchMedia('(min-width: 641px)');

/** The filters as the URL holds them (`?status=in_progress&status=validating&model=…`). */
interface Filters {
  status: string[];
  account: string;
  model: string;
  from: string;
  to: string;
  metaKey: string;
  metaValue: string;
}

function filtersOf(query: URLSearchParams): Filters {
  return {
    status: query.getAll('status'),
    account: query.get('account') ?? '',
    model: query.get('model') ?? '',
    from: query.get('from') ?? '',
    to: query.get('to') ?? '',
    metaKey: query.get('metaKey') ?? '',
    metaValue: query.get('metaValue') ?? '',
  };
}

function toFilter(f: Filters): BatchFilter | null {
  const filter: BatchFilter = {};
  if (f.status.length) filter.status = f.status;
  if (f.account) filter.accountId = f.account;
  if (f.model.trim()) filter.model = f.model.trim();
  const after = fromLocalInput(f.from);
  const before = fromLocalInput(f.to);
  if (after !== null) filter.createdAfter = after;
  if (before !== null) filter.createdBefore = before;
  if (f.metaKey.trim()) {
    filter.metadataKey = f.metaKey.trim();
    if (f.metaValue !== '') filter.metadataValue = f.metaValue;
  }
  return Object.keys(filter).length ? filter : null;
}

function FilterForm({ applied, accounts }: { applied: Filters; accounts: { id: string; name: string }[] }) {
  const [draft, setDraft] = useState<Filters>(applied);
  const set = (patch: Partial<Filters>) => setDraft((d) => ({ ...d, ...patch }));
  const toggle = (status: string) => set({ status: draft.status.includes(status) ? draft.status.filter((s) => s !== status) : [...draft.status, status] });
  const apply = (f: Filters) => navigate(withQuery('/batches', { ...f }));

  const active = toFilter(applied);
  const activeCount = active ? Object.keys(active).filter((k) => k !== 'metadataValue').length : 0;
  return (
    <details class="filters" open={WIDE.matches || activeCount > 0}>
      <summary>Filters{activeCount > 0 ? ` (${activeCount} applied)` : ''}</summary>
      <form
        aria-label="Filter batches"
        onSubmit={(e) => {
          e.preventDefault();
          apply(draft);
        }}
      >
        <fieldset class="statuses">
          <legend>Status</legend>
          {BATCH_STATUSES.map((s) => (
            <label key={s} class="chip">
              <input type="checkbox" checked={draft.status.includes(s)} onChange={() => toggle(s)} />
              {statusLabel(s)}
            </label>
          ))}
        </fieldset>
        <div class="filter-fields">
          <label class="field">
            <span class="field-label">Account</span>
            <select value={draft.account} onChange={(e) => set({ account: e.currentTarget.value })}>
              <option value="">Any account</option>
              {accounts.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name}
                </option>
              ))}
            </select>
          </label>
          <label class="field">
            <span class="field-label">Model</span>
            <input value={draft.model} placeholder="any" onInput={(e) => set({ model: e.currentTarget.value })} />
          </label>
          <label class="field">
            <span class="field-label">Created from</span>
            <input type="datetime-local" step={1} value={draft.from} onInput={(e) => set({ from: e.currentTarget.value })} />
          </label>
          <label class="field">
            <span class="field-label">Created before</span>
            <input type="datetime-local" step={1} value={draft.to} onInput={(e) => set({ to: e.currentTarget.value })} />
          </label>
          <label class="field">
            <span class="field-label">Metadata key</span>
            <input value={draft.metaKey} placeholder="e.g. team" onInput={(e) => set({ metaKey: e.currentTarget.value })} />
          </label>
          <label class="field">
            <span class="field-label">Metadata value</span>
            <input
              value={draft.metaValue}
              placeholder={draft.metaKey ? 'any value' : 'needs a key'}
              disabled={!draft.metaKey.trim()}
              onInput={(e) => set({ metaValue: e.currentTarget.value })}
            />
          </label>
        </div>
        <div class="actions">
          <button type="submit" class="primary">
            Apply filters
          </button>
          <button
            type="button"
            onClick={() => {
              const none = filtersOf(new URLSearchParams());
              setDraft(none);
              apply(none);
            }}
          >
            Clear
          </button>
        </div>
      </form>
    </details>
  );
}

export function BatchesPage() {
  const { query } = useLocation();
  const applied = filtersOf(query);
  const after = query.get('after');
  const filter = toFilter(applied);
  const accounts = useQuery(AccountsDocument, {});
  const batches = useQuery(
    BatchesDocument,
    { filter, first: PAGE_SIZE, after },
    { poll: (d) => (d.batches.edges.some((e) => LIVE_STATUSES.includes(e.node.status)) ? LIVE_POLL_MS : null) },
  );
  const names = new Map((accounts.data?.accounts ?? []).map((a) => [a.id, a.name]));
  const page = batches.data?.batches;
  // The cursors of the pages before this one ('-': the first page), so "Previous" can go back (the API pages forwards only).
  const trail = query.getAll('back');
  const here = { ...applied };

  const goNext = () => page?.pageInfo.endCursor && navigate(withQuery('/batches', { ...here, back: [...trail, after ?? '-'], after: page.pageInfo.endCursor }));
  const goPrevious = () => {
    const previous = trail[trail.length - 1];
    navigate(withQuery('/batches', { ...here, back: trail.slice(0, -1), after: previous === '-' ? null : previous }));
  };
  const pageStart = trail.length * PAGE_SIZE;

  return (
    <section aria-labelledby="batches-title">
      <div class="page-head">
        <h1 id="batches-title">Batches</h1>
        <button type="button" onClick={batches.refresh} disabled={batches.loading}>
          Refresh
        </button>
      </div>
      <FilterForm key={query.toString()} applied={applied} accounts={accounts.data?.accounts ?? []} />
      <Problem error={batches.error} />
      {!page ? (
        batches.error ? null : (
          <Loading what="batches" />
        )
      ) : page.edges.length === 0 ? (
        filter || after ? (
          <Empty title="No batch matches these filters.">Widen the time range, pick more statuses, or clear the filters.</Empty>
        ) : (
          <Empty title="No batches yet.">
            Clients create batches with <code>POST /v1/batches</code> after uploading a JSONL file to <code>/v1/files</code>; give a client an API key on the{' '}
            <Link to="/accounts">Accounts</Link> page.
          </Empty>
        )
      ) : (
        <>
          <p class="count" aria-live="polite">
            {page.totalCount === 0 ? '' : `Batches ${pageStart + 1}–${pageStart + page.edges.length} of ${page.totalCount}`}
          </p>
          <TableBox>
            <table class="batches">
              <thead>
                <tr>
                  <th>Batch</th>
                  <th>Status</th>
                  <th>Progress</th>
                  <th>Account</th>
                  <th>Model</th>
                  <th>Created</th>
                  <th>Metadata</th>
                </tr>
              </thead>
              <tbody>
                {page.edges.map(({ node: b }) => (
                  <tr key={b.id} data-batch-id={b.id}>
                    <td>
                      <Link to={`/batches/${encodeURIComponent(b.id)}`} class="mono">
                        {b.id}
                      </Link>
                    </td>
                    <td>
                      <StatusBadge status={b.status} />
                    </td>
                    <td>
                      <Progress counts={b.requestCounts} />
                    </td>
                    <td>{names.get(b.accountId) ?? <Id value={b.accountId} />}</td>
                    <td>{b.model}</td>
                    <td>{dateTime(b.createdAt)}</td>
                    <td class="metadata">
                      {b.metadata.map((m) => (
                        <span key={m.key} class="kv">
                          {m.key}={m.value}
                        </span>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
          <nav class="pager" aria-label="Pages of batches">
            <button type="button" onClick={goPrevious} disabled={trail.length === 0}>
              Previous page
            </button>
            <button type="button" onClick={goNext} disabled={!page.pageInfo.hasNextPage}>
              Next page
            </button>
          </nav>
        </>
      )}
    </section>
  );
}
