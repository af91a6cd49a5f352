import { BatchReports } from '@app/batches';
import { Clock } from '@app/core';
import { JobQueue } from '@app/queue';
import { Injectable } from '@nestjs/common';
import { Overview, THROUGHPUT_RANGES, ThroughputRange, ThroughputSeries } from './graphql/models';
import { ProviderLoadQueries } from './provider-load.queries';
import { RequestRowQueries } from './request-rows.queries';
import { WebhookDeliveryQueries } from './webhook-deliveries.queries';

type BucketCount = Awaited<ReturnType<RequestRowQueries['finishedPerBucket']>>[number];

/** The operators' dashboard figures: what runs, how fast it finishes, what waits and what fails. */
@Injectable()
export class OverviewService {
  /** Per range: the counts of the buckets that can no longer change, and where they end. */
  private readonly settled = new Map<ThroughputRange, { until: number; counts: BucketCount[] }>();

  constructor(
    private readonly batches: BatchReports,
    private readonly requestRows: RequestRowQueries,
    private readonly providerLoad: ProviderLoadQueries,
    private readonly webhooks: WebhookDeliveryQueries,
    private readonly queue: JobQueue,
    private readonly clock: Clock,
  ) {}

  async overview(windowMinutes: number): Promise<Overview> {
    const minutes = Math.min(Math.max(windowMinutes, 1), 24 * 60);
    const nowMs = this.clock.nowMs();
    const since = Math.floor(nowMs / 1000) - minutes * 60;
    const [byStatus, finished, queued, inFlight, depth, webhooks] = await Promise.all([
      this.batches.countByStatus(),
      this.requestRows.recentByProvider(since),
      this.providerLoad.unfinishedLines(),
      this.providerLoad.inFlight(nowMs),
      this.queue.depth(),
      this.webhooks.health(since * 1000),
    ]);
    const finishedBy = new Map(finished.map((p) => [p.providerId, p]));
    const providerIds = [...new Set([...finishedBy.keys(), ...queued.keys(), ...inFlight.keys()])].sort();
    const requestsFinished = finished.reduce((n, p) => n + p.finished, 0);
    return {
      batchesByStatus: Object.entries(byStatus).map(([status, count]) => ({ status, count })),
      windowMinutes: minutes,
      requestsFinished,
      requestsPerMinute: requestsFinished / minutes,
      providers: providerIds.map((providerId) => {
        const { finished: done = 0, failed = 0 } = finishedBy.get(providerId) ?? {};
        return {
          providerId,
          finished: done,
          failed,
          errorRate: done === 0 ? 0 : failed / done,
          queuedLines: queued.get(providerId) ?? 0,
          inFlight: inFlight.get(providerId) ?? 0,
        };
      }),
      queues: Object.entries(depth).map(([queue, d]) => ({ queue, waiting: d.waiting, active: d.active })),
      webhooks,
    };
  }

  /**
   * The range's buckets for every provider that finished requests in it, zeros included, from one
   * grouped query. Buckets are aligned to multiples of their size, so the same bucket keeps its start
   * from one refresh to the next; the last one is the current, partial bucket.
   *
   * Buckets that ended before the previous one no longer change (a row's finished_at is the time it was
   * written), so they are counted once and kept: a refresh reads only the rows of the buckets that had
   * not settled at the read before. A day's rows are a long scan (about a second for a million on
   * PostgreSQL, four on SQLite, whose driver blocks the process meanwhile); a page refreshed every few
   * seconds must not repeat it.
   */
  async throughputSeries(range: ThroughputRange): Promise<ThroughputSeries> {
    const { bucketSeconds, buckets } = THROUGHPUT_RANGES[range];
    const end = (Math.floor(this.clock.nowSeconds() / bucketSeconds) + 1) * bucketSeconds;
    const start = end - buckets * bucketSeconds;
    const settled = this.settled.get(range);
    const until = end - 2 * bucketSeconds;
    // Kept counts serve only while they end inside the range and not past what has settled (the clock went back).
    const from = settled && settled.until > start && settled.until <= until ? settled.until : start;
    const counts = [
      ...(settled?.counts.filter((c) => c.start >= start && c.start < from) ?? []),
      ...(await this.requestRows.finishedPerBucket(from, end, bucketSeconds)),
    ];
    this.settled.set(range, { until, counts: counts.filter((c) => c.start < until) });
    const providers = new Map<string, Map<number, { completed: number; failed: number }>>();
    for (const c of counts) {
      if (!providers.has(c.providerId)) providers.set(c.providerId, new Map());
      providers.get(c.providerId)!.set(c.start, { completed: c.completed, failed: c.failed });
    }
    return {
      range,
      bucketSeconds,
      start,
      end,
      providers: [...providers.keys()].sort().map((providerId) => ({
        providerId,
        buckets: Array.from({ length: buckets }, (_, i) => {
          const bucketStart = start + i * bucketSeconds;
          return { start: bucketStart, ...(providers.get(providerId)!.get(bucketStart) ?? { completed: 0, failed: 0 }) };
        }),
      })),
    };
  }
}
