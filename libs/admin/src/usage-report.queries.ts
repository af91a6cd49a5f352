import { dialectOf, named, queryRows, SqlDialect } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export type UsageDimensionName = 'account' | 'model' | 'day' | 'provider';

/** The usage_daily column of each dimension (a fixed list: never text from the query). */
const COLUMNS: Record<UsageDimensionName, string> = { account: 'account_id', model: 'model', day: 'day', provider: 'provider_id' };

export const USAGE_REPORT_MAX_ROWS = 10_000;

export interface UsageRow {
  accountId: string | null;
  model: string | null;
  day: string | null;
  providerId: string | null;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  costMicros: number;
}

/**
 * The usage report: one grouped query over usage_daily (written in the transactions that finish the
 * request rows), the same SQL on both databases.
 */
@Injectable()
export class UsageReportQueries {
  private readonly dialect: SqlDialect;

  constructor(private readonly dataSource: DataSource) {
    this.dialect = dialectOf(dataSource);
  }

  /** The rows of the report (at most USAGE_REPORT_MAX_ROWS) and the cost of all rows, those cut off included. */
  async report(
    from: string,
    to: string,
    groupBy: readonly UsageDimensionName[],
    accountId: string | null,
  ): Promise<{ rows: UsageRow[]; truncated: boolean; totalMicros: number }> {
    const dims = [...new Set(groupBy)].map((d) => COLUMNS[d]);
    const select = dims.map((c) => `${c}, `).join('');
    const grouped = dims.length > 0 ? `GROUP BY ${dims.join(', ')} ORDER BY ${dims.join(', ')}` : '';
    const rows = await queryRows<Record<string, string | number | null>>(
      this.dataSource.manager,
      ...named(
        this.dialect,
        `SELECT ${select}SUM(requests) AS requests, SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens,
                SUM(cached_tokens) AS cached_tokens, SUM(cost_micros) AS cost_micros
         FROM usage_daily WHERE day >= :from AND day <= :to ${accountId === null ? '' : 'AND account_id = :accountId'}
         ${grouped} LIMIT :limit`,
        { from, to, limit: USAGE_REPORT_MAX_ROWS + 1, ...(accountId === null ? {} : { accountId }) },
      ),
    );
    const text = (v: string | number | null | undefined) => (v === undefined || v === null ? null : String(v));
    const mapped = rows
      // Without a group, SUM over no rows is one row of nulls.
      .filter((r) => r.requests !== null)
      .slice(0, USAGE_REPORT_MAX_ROWS)
      .map((r) => ({
        accountId: text(r.account_id),
        model: text(r.model),
        day: text(r.day),
        providerId: text(r.provider_id),
        requests: Number(r.requests),
        promptTokens: Number(r.prompt_tokens),
        completionTokens: Number(r.completion_tokens),
        cachedTokens: Number(r.cached_tokens),
        costMicros: Number(r.cost_micros),
      }));
    const truncated = rows.length > USAGE_REPORT_MAX_ROWS;
    const totalMicros = truncated ? ((await this.report(from, to, [], accountId)).rows[0]?.costMicros ?? 0) : mapped.reduce((sum, r) => sum + r.costMicros, 0);
    return { rows: mapped, truncated, totalMicros };
  }
}
