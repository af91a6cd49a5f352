import { useMemo, useState } from 'preact/hooks';
import { useQuery } from '../api/hooks';
import { OverviewDocument, type OverviewQuery, type ThroughputRange } from '../gql/graphql';
import { BATCH_STATUSES, count, statusLabel } from '../format';
import { Link, withQuery } from '../router';
import { LineChart, type Series } from '../ui/chart';
import { Empty, Loading, Problem, TableBox } from '../ui/components';

const RANGES: { value: ThroughputRange; label: string; minutes: number }[] = [
  { value: 'HOUR', label: 'Last hour', minutes: 60 },
  { value: 'DAY', label: 'Last day', minutes: 24 * 60 },
];
const OVERVIEW_POLL_MS = 10_000;

type ThroughputSeries = OverviewQuery['throughputSeries'];

/**
 * Lines per minute and error rate per provider and bucket. The last bucket is still filling: its rate
 * is over the part of it that has passed. A bucket where nothing finished has no error rate (a gap).
 */
function chartSeries(series: ThroughputSeries, nowSeconds: number): { x: number[]; rate: Series[]; errors: Series[] } {
  const x = series.providers[0]?.buckets.map((b) => b.start) ?? [];
  const minutes = (start: number) => Math.max(Math.min(series.bucketSeconds, nowSeconds - start), 1) / 60;
  return {
    x,
    rate: series.providers.map((p) => ({ label: p.providerId, values: p.buckets.map((b) => (b.completed + b.failed) / minutes(b.start)) })),
    errors: series.providers.map((p) => ({
      label: p.providerId,
      values: p.buckets.map((b) => (b.completed + b.failed === 0 ? null : b.failed / (b.completed + b.failed))),
    })),
  };
}

/** 0.0025 → "0.25%", 0.05 → "5%": as many decimals as a small rate needs. */
function ratePercent(v: number): string {
  return `${Number((v * 100).toFixed(v < 0.01 ? 2 : v < 0.1 ? 1 : 0))}%`;
}

/** A provider's figures over the range, from the same series as the charts. */
function rangeTotals(series: ThroughputSeries): Map<string, { finished: number; failed: number }> {
  return new Map(
    series.providers.map((p) => {
      const failed = p.buckets.reduce((n, b) => n + b.failed, 0);
      return [p.providerId, { finished: failed + p.buckets.reduce((n, b) => n + b.completed, 0), failed }];
    }),
  );
}

function Tile({ value, label, alert = false, to, status }: { value: number; label: string; alert?: boolean; to?: string; status?: string }) {
  const body = (
    <>
      <span class="tile-value">{count(value)}</span>
      <span class="tile-label">{label}</span>
    </>
  );
  const cls = alert && value > 0 ? 'tile alert' : 'tile';
  return to ? (
    <Link to={to} class={cls} data-status={status}>
      {body}
    </Link>
  ) : (
    <div class={cls}>{body}</div>
  );
}

export function OverviewPage() {
  const [range, setRange] = useState<ThroughputRange>('HOUR');
  const chosen = RANGES.find((r) => r.value === range)!;
  const answer = useQuery(OverviewDocument, { windowMinutes: chosen.minutes, range }, { poll: () => OVERVIEW_POLL_MS });
  const data = answer.data;
  const charts = useMemo(() => (data ? chartSeries(data.throughputSeries, Date.now() / 1000) : null), [data]);
  const totals = useMemo(() => (data ? rangeTotals(data.throughputSeries) : new Map<string, { finished: number; failed: number }>()), [data]);
  const rangeWords = chosen.label.toLowerCase();

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
      <Problem error={answer.error} />
      {!data || !charts ? (
        answer.error ? null : (
          <Loading what="the overview" />
        )
      ) : (
        <>
          <h2>Batches by status</h2>
          <div class="tiles">
            {BATCH_STATUSES.map((status) => (
              <Tile
                key={status}
                value={data.overview.batchesByStatus.find((s) => s.status === status)?.count ?? 0}
                label={statusLabel(status)}
                status={status}
                to={withQuery('/batches', { status })}
              />
            ))}
          </div>

          <h2>Work now</h2>
          <div class="tiles">
            <Tile value={data.overview.providers.reduce((n, p) => n + p.queuedLines, 0)} label="lines queued" />
            <Tile value={data.overview.providers.reduce((n, p) => n + p.inFlight, 0)} label="requests in flight" />
            <Tile value={data.overview.queues.reduce((n, q) => n + q.waiting, 0)} label="jobs waiting" />
            <Tile value={data.overview.webhooks.pending} label="webhooks pending" />
            <Tile value={data.overview.webhooks.retrying} label="webhooks retrying" alert />
            <Tile value={data.overview.webhooks.failed} label="webhooks given up" alert />
            <Tile value={data.overview.webhooks.failedAttempts} label={`failed webhook attempts, ${rangeWords}`} alert />
          </div>

          <h2>Throughput, {rangeWords}</h2>
          {data.throughputSeries.providers.length === 0 ? (
            <Empty title={`No request finished in the ${rangeWords}.`}>
              The charts fill as batches run. Create one with <code>POST /v1/batches</code>, or look at a longer range.
            </Empty>
          ) : (
            <div class="charts">
              <LineChart
                title="Lines per minute, by provider"
                x={charts.x}
                series={charts.rate}
                format={(v) => (v >= 10 ? count(Math.round(v)) : v.toFixed(1))}
              />
              <LineChart title="Error rate, by provider" x={charts.x} series={charts.errors} format={ratePercent} points ceiling={1} />
            </div>
          )}

          <h2>Providers</h2>
          {data.overview.providers.length === 0 ? (
            <Empty title={`No provider had work in the ${rangeWords}.`}>
              Providers show here while they have lines queued or in flight, or finished some in the range.
            </Empty>
          ) : (
            <TableBox>
              <table>
                <thead>
                  <tr>
                    <th>Provider</th>
                    <th>In flight</th>
                    <th>Lines queued</th>
                    <th>Finished, {rangeWords}</th>
                    <th>Failed</th>
                    <th>Error rate</th>
                  </tr>
                </thead>
                <tbody>
                  {data.overview.providers.map((p) => {
                    const { finished, failed } = totals.get(p.providerId) ?? { finished: 0, failed: 0 };
                    return (
                      <tr key={p.providerId}>
                        <td class="mono">{p.providerId}</td>
                        <td>{count(p.inFlight)}</td>
                        <td>{count(p.queuedLines)}</td>
                        <td>{count(finished)}</td>
                        <td>{count(failed)}</td>
                        <td>{finished === 0 ? '—' : ratePercent(failed / finished)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </TableBox>
          )}

          <h2>Job queues</h2>
          <TableBox>
            <table>
              <thead>
                <tr>
                  <th>Queue</th>
                  <th>Waiting</th>
                  <th>Running</th>
                </tr>
              </thead>
              <tbody>
                {data.overview.queues.map((q) => (
                  <tr key={q.queue}>
                    <td class="mono">{q.queue}</td>
                    <td>{count(q.waiting)}</td>
                    <td>{count(q.active)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        </>
      )}
    </section>
  );
}
