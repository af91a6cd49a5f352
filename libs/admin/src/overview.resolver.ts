import { BatchReports } from '@app/batches';
import { Clock } from '@app/core';
import { RequestRowQueries } from './request-rows.queries';
import { Args, Int, Query, Resolver } from '@nestjs/graphql';
import { Overview } from './graphql/models';

@Resolver(() => Overview)
export class OverviewResolver {
  constructor(
    private readonly batches: BatchReports,
    private readonly requestRows: RequestRowQueries,
    private readonly clock: Clock,
  ) {}

  @Query(() => Overview, { description: 'Batches by status, throughput and per-provider error rates over the last minutes' })
  async overview(@Args('windowMinutes', { type: () => Int, defaultValue: 15 }) windowMinutes: number): Promise<Overview> {
    const minutes = Math.min(Math.max(windowMinutes, 1), 24 * 60);
    const [byStatus, providers] = await Promise.all([this.batches.countByStatus(), this.requestRows.recentByProvider(this.clock.nowSeconds() - minutes * 60)]);
    const requestsFinished = providers.reduce((n, p) => n + p.finished, 0);
    return {
      batchesByStatus: Object.entries(byStatus).map(([status, count]) => ({ status, count })),
      windowMinutes: minutes,
      requestsFinished,
      requestsPerMinute: requestsFinished / minutes,
      providers: providers.map((p) => ({ ...p, errorRate: p.finished === 0 ? 0 : p.failed / p.finished })),
    };
  }
}
