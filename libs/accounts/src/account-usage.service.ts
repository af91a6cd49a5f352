import { Clock, utcMonthStart } from '@app/core';
import { Transaction } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { AccountUsageRepository, UsageIncrement } from './account-usage.repository';

export type { UsageIncrement } from './account-usage.repository';

/** An account's monthly spend limit and its spend so far this calendar month (UTC), in micro-units. */
export interface AccountSpend {
  limitMicros: number | null;
  spentMicros: number;
}

/**
 * What accounts have used and spent: increments added in the transaction that finishes the request
 * rows they count (so a line counts once, whichever process finishes it), and the month-to-date spend
 * read from the database (so every API and worker process sees the same).
 */
@Injectable()
export class AccountUsage {
  constructor(
    private readonly usage: AccountUsageRepository,
    private readonly clock: Clock,
  ) {}

  record(tx: Transaction, increment: UsageIncrement): Promise<void> {
    return this.usage.addIn(tx, increment);
  }

  /** Null for an unknown account. */
  spend(accountId: string): Promise<AccountSpend | null> {
    return this.usage.spend(accountId, utcMonthStart(this.clock.nowSeconds()));
  }

  spentThisMonth(accountIds: readonly string[]): Promise<Map<string, number>> {
    return this.usage.spentByAccount(accountIds, utcMonthStart(this.clock.nowSeconds()));
  }
}
