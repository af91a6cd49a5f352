import { AccountsService, AccountUsage } from '@app/accounts';
import { ApiError, APP_CONFIG, AppConfig, money, parseAmount } from '@app/core';
import { Inject } from '@nestjs/common';
import { Args, ID, Mutation, Parent, ResolveField, Resolver } from '@nestjs/graphql';
import { MoneyModel } from './graphql/cost';
import { AccountModel } from './graphql/models';

/** An account's monthly spend limit and its spend this calendar month (UTC). */
@Resolver(() => AccountModel)
export class AccountSpendResolver {
  constructor(
    private readonly accounts: AccountsService,
    private readonly usage: AccountUsage,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Mutation(() => AccountModel, {
    description: 'Sets the most the account may spend per calendar month (UTC), a decimal amount in COST_CURRENCY such as "250.00"; null removes the limit',
  })
  setAccountSpendLimit(
    @Args('accountId', { type: () => ID }) accountId: string,
    @Args('amount', { type: () => String, nullable: true }) amount: string | null,
  ): Promise<AccountModel> {
    const micros = amount == null ? null : parseAmount(amount);
    if (amount != null && micros === null) {
      throw new ApiError('invalid_request_error', 'amount must be a non-negative decimal with at most 6 places, e.g. "250.00"', 'amount');
    }
    return this.accounts.setMonthlySpendLimit(accountId, micros);
  }

  @ResolveField(() => MoneyModel, { nullable: true, description: 'The monthly spend limit; null: none' })
  monthlySpendLimit(@Parent() account: AccountModel & { monthlySpendLimitMicros?: number | null }): MoneyModel | null {
    return account.monthlySpendLimitMicros == null ? null : money(this.config.costCurrency, account.monthlySpendLimitMicros);
  }

  @ResolveField(() => MoneyModel, { description: 'What its finished lines cost since the first of this month (UTC)' })
  async monthToDateSpend(@Parent() account: AccountModel): Promise<MoneyModel> {
    const spent = await this.usage.spentThisMonth([account.id]);
    return money(this.config.costCurrency, spent.get(account.id) ?? 0);
  }
}
