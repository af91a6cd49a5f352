import { AccountQuotasService, AccountsService, tokenLimitFor } from '@app/accounts';
import { BatchReports } from '@app/batches';
import { Args, ID, Mutation, Parent, ResolveField, Resolver } from '@nestjs/graphql';
import { AccountModel } from './graphql/models';
import { AccountQuotas, AccountQuotasInput, QuotaUse } from './graphql/quotas';

/** An account's quotas and their use now; operators set them with setAccountQuotas. */
@Resolver(() => AccountModel)
export class AccountQuotasResolver {
  constructor(
    private readonly accounts: AccountsService,
    private readonly quotas: AccountQuotasService,
    private readonly reports: BatchReports,
  ) {}

  @Mutation(() => AccountModel, { description: 'Sets quotas held at batch create (a field left out is kept, null is no limit)' })
  async setAccountQuotas(
    @Args('accountId', { type: () => ID }) accountId: string,
    @Args('input', { type: () => AccountQuotasInput }) input: AccountQuotasInput,
  ): Promise<AccountModel> {
    await this.quotas.set(accountId, input);
    return this.accounts.getAccount(accountId);
  }

  @ResolveField('quotas', () => AccountQuotas)
  quotaLimits(@Parent() account: AccountModel): Promise<AccountQuotas> {
    return this.quotas.get(account.id);
  }

  @ResolveField(() => QuotaUse)
  async quotaUse(@Parent() account: AccountModel): Promise<QuotaUse> {
    const [quotas, enqueued] = await Promise.all([this.quotas.get(account.id), this.reports.enqueuedByModel(account.id)]);
    const models = new Set([...enqueued.map((e) => e.model), ...quotas.enqueuedTokenLimits.map((l) => l.model)]);
    return {
      unfinishedBatches: enqueued.reduce((n, e) => n + e.batches, 0),
      enqueuedTokens: [...models].sort().map((model) => {
        const use = enqueued.find((e) => e.model === model);
        return { model, tokens: use?.tokens ?? 0, batches: use?.batches ?? 0, limit: tokenLimitFor(quotas, model) };
      }),
    };
  }
}
