import { APP_CONFIG, AppConfig, money } from '@app/core';
import { Inject } from '@nestjs/common';
import { Args, Query, Resolver } from '@nestjs/graphql';
import { UsageDimension, UsageReport, UsageReportInput } from './graphql/cost';
import { UsageReportQueries } from './usage-report.queries';

const DEFAULT_GROUPS = [UsageDimension.account, UsageDimension.model, UsageDimension.day];

@Resolver(() => UsageReport)
export class UsageReportResolver {
  constructor(
    private readonly queries: UsageReportQueries,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Query(() => UsageReport, { description: 'Usage and cost of finished lines by account, model, day (and provider) over a range of UTC days' })
  async usageReport(@Args('input') input: UsageReportInput): Promise<UsageReport> {
    const groupBy = input.groupBy?.length ? input.groupBy : DEFAULT_GROUPS;
    const { rows, truncated, totalMicros } = await this.queries.report(input.from, input.to, groupBy, input.accountId ?? null);
    const currency = this.config.costCurrency;
    return {
      from: input.from,
      to: input.to,
      groupBy,
      rows: rows.map(({ costMicros, ...r }) => ({ ...r, cost: money(currency, costMicros) })),
      totalCost: money(currency, totalMicros),
      truncated,
    };
  }
}
