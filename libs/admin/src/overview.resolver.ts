import { Args, Int, Query, Resolver } from '@nestjs/graphql';
import { Overview, ThroughputRange, ThroughputSeries } from './graphql/models';
import { OverviewService } from './overview.service';
import { ADMIN_QUERY_LIMITS } from './query-limits';

@Resolver(() => Overview)
export class OverviewResolver {
  constructor(private readonly overviews: OverviewService) {}

  @Query(() => Overview, {
    description: 'Batches by status, throughput and per-provider error rates over the last minutes, queued and in-flight work, webhook failures',
  })
  overview(@Args('windowMinutes', { type: () => Int, defaultValue: 15 }) windowMinutes: number): Promise<Overview> {
    return this.overviews.overview(windowMinutes);
  }

  @Query(() => ThroughputSeries, {
    description: 'Requests finished per provider and bucket over the last hour or day, for charts of lines per minute and error rate',
    complexity: ({ childComplexity }) => ADMIN_QUERY_LIMITS.queryCost + childComplexity,
  })
  throughputSeries(@Args('range', { type: () => ThroughputRange, defaultValue: ThroughputRange.HOUR }) range: ThroughputRange): Promise<ThroughputSeries> {
    return this.overviews.throughputSeries(range);
  }
}
