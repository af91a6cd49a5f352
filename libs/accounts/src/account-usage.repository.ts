import { dialectOf, execute, managerOf, named, namedList, queryRows, SqlDialect, Transaction } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** One increment of an account's usage on one day, for one model and provider. */
export interface UsageIncrement {
  accountId: string;
  day: string;
  model: string;
  providerId: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  costMicros: number;
}

/** The usage_daily table: increments written in the caller's transaction, the month-to-date spend read back. */
@Injectable()
export class AccountUsageRepository {
  private readonly dialect: SqlDialect;

  constructor(private readonly dataSource: DataSource) {
    this.dialect = dialectOf(dataSource);
  }

  /** Adds to the day's row (created at the first increment), in the caller's transaction: one upsert, either database. */
  async addIn(tx: Transaction, u: UsageIncrement): Promise<void> {
    await execute(
      managerOf(tx),
      ...named(
        this.dialect,
        `INSERT INTO usage_daily (account_id, day, model, provider_id, requests, prompt_tokens, completion_tokens, cached_tokens, cost_micros)
         VALUES (:accountId, :day, :model, :providerId, :requests, :promptTokens, :completionTokens, :cachedTokens, :costMicros)
         ON CONFLICT (account_id, day, model, provider_id) DO UPDATE SET
           requests = usage_daily.requests + excluded.requests,
           prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
           completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens,
           cached_tokens = usage_daily.cached_tokens + excluded.cached_tokens,
           cost_micros = usage_daily.cost_micros + excluded.cost_micros`,
        { ...u },
      ),
    );
  }

  /** The account's monthly limit and what it has spent since `fromDay` (the first day of the month), in one query. */
  async spend(accountId: string, fromDay: string): Promise<{ limitMicros: number | null; spentMicros: number } | null> {
    const rows = await queryRows<{ limit_micros: string | number | null; spent: string | number | null }>(
      this.dataSource.manager,
      ...named(
        this.dialect,
        `SELECT a.monthly_spend_limit_micros AS limit_micros,
                (SELECT COALESCE(SUM(u.cost_micros), 0) FROM usage_daily u WHERE u.account_id = a.id AND u.day >= :fromDay) AS spent
         FROM accounts a WHERE a.id = :accountId`,
        { accountId, fromDay },
      ),
    );
    if (rows.length === 0) return null;
    const r = rows[0];
    return { limitMicros: r.limit_micros === null ? null : Number(r.limit_micros), spentMicros: Number(r.spent ?? 0) };
  }

  /** What each of these accounts has spent since `fromDay`. */
  async spentByAccount(accountIds: readonly string[], fromDay: string): Promise<Map<string, number>> {
    if (accountIds.length === 0) return new Map();
    const ids = namedList('a', accountIds);
    const rows = await queryRows<{ account_id: string; spent: string | number }>(
      this.dataSource.manager,
      ...named(
        this.dialect,
        `SELECT account_id, SUM(cost_micros) AS spent FROM usage_daily WHERE day >= :fromDay AND account_id IN (${ids.sql}) GROUP BY account_id`,
        { fromDay, ...ids.values },
      ),
    );
    return new Map(rows.map((r) => [r.account_id, Number(r.spent)]));
  }
}
