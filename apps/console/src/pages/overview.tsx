import { useState } from 'preact/hooks';
import { useQuery } from '../api/hooks';
import { OverviewDocument } from '../gql/graphql';
import { BATCH_STATUSES, count, percent, statusLabel } from '../format';
import { Link, withQuery } from '../router';
import { Empty, Loading, Problem, TableBox } from '../ui/components';

type Range = 'HOUR' | 'DAY';
const RANGES: { value: Range; label: string; minutes: number }[] = [
  { value: 'HOUR', label: 'Last hour', minutes: 60 },
  { value: 'DAY', label: 'Last day', minutes: 24 * 60 },
];
const OVERVIEW_POLL_MS = 10_000;

export function OverviewPage() {
  const [range, setRange] = useState<Range>('HOUR');
  const minutes = RANGES.find((r) => r.value === range)!.minutes;
  const overview = useQuery(OverviewDocument, { windowMinutes: minutes }, { poll: () => OVERVIEW_POLL_MS });
  const data = overview.data?.overview;

  return (
    <section aria-labelledby="overview-title">
      <div class="page-head">
        <h1 id="overview-title">Overview</h1>
        <div class="segmented" role="group" aria-label="Time range">
          {RANGES.map((r) => (
            <button key={r.value} type="button" aria-pressed={range === r.value} onClick={() => setRange(r.value)}>
              {r.label}
            </button>
          ))}
        </div>
      </div>
      <Problem error={overview.error} />
      {!data ? (
        overview.error ? null : (
          <Loading what="the overview" />
        )
      ) : (
        <>
          <h2>Batches by status</h2>
          <div class="tiles">
            {BATCH_STATUSES.map((status) => {
              const n = data.batchesByStatus.find((s) => s.status === status)?.count ?? 0;
              return (
                <Link key={status} to={withQuery('/batches', { status })} class="tile" data-status={status}>
                  <span class="tile-value">{count(n)}</span>
                  <span class="tile-label">{statusLabel(status)}</span>
                </Link>
              );
            })}
          </div>
          <h2>Providers</h2>
          {data.providers.length === 0 ? (
            <Empty title="No request finished in this range.">Running batches show here as their lines are answered.</Empty>
          ) : (
            <TableBox>
              <table>
                <thead>
                  <tr>
                    <th>Provider</th>
                    <th>Finished</th>
                    <th>Failed</th>
                    <th>Error rate</th>
                  </tr>
                </thead>
                <tbody>
                  {data.providers.map((p) => (
                    <tr key={p.providerId}>
                      <td class="mono">{p.providerId}</td>
                      <td>{count(p.finished)}</td>
                      <td>{count(p.failed)}</td>
                      <td>{percent(p.errorRate, 1)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableBox>
          )}
        </>
      )}
    </section>
  );
}
