import { AccountsService } from '@app/accounts';
import { WebhooksService } from '@app/webhooks';
import { Args, Context, ID, Int, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { AccountModel, ApiKey, CreatedApiKey } from './graphql/models';
import type { AdminLoaders } from './loaders';

@Resolver(() => AccountModel)
export class AccountsResolver {
  constructor(
    private readonly accountsService: AccountsService,
    private readonly webhooks: WebhooksService,
  ) {}

  @Query(() => [AccountModel], { name: 'accounts' })
  accounts(): Promise<AccountModel[]> {
    return this.accountsService.listAccounts();
  }

  @Mutation(() => AccountModel)
  createAccount(@Args('name') name: string): Promise<AccountModel> {
    return this.accountsService.createAccount(name);
  }

  @Mutation(() => CreatedApiKey, { description: 'The secret is in this answer only' })
  createApiKey(@Args('accountId', { type: () => ID }) accountId: string): Promise<CreatedApiKey> {
    return this.accountsService.createApiKey(accountId);
  }

  @Mutation(() => ApiKey)
  revokeApiKey(@Args('id', { type: () => ID }) id: string): Promise<ApiKey> {
    return this.accountsService.revokeApiKey(id);
  }

  @Mutation(() => AccountModel, { description: 'Sets the default webhook URL; null clears it' })
  setAccountWebhook(
    @Args('accountId', { type: () => ID }) accountId: string,
    @Args('url', { type: () => String, nullable: true }) url: string | null,
  ): Promise<AccountModel> {
    return this.webhooks.setAccountWebhook(accountId, url ?? null);
  }

  @Mutation(() => AccountModel, { description: "Sets the account's scheduling weight (1 to 1000)" })
  setAccountWeight(@Args('accountId', { type: () => ID }) accountId: string, @Args('weight', { type: () => Int }) weight: number): Promise<AccountModel> {
    return this.accountsService.setWeight(accountId, weight);
  }

  @Mutation(() => AccountModel)
  rotateWebhookSecret(@Args('accountId', { type: () => ID }) accountId: string): Promise<AccountModel> {
    return this.accountsService.rotateWebhookSecret(accountId);
  }

  @ResolveField(() => [ApiKey])
  apiKeys(@Parent() account: AccountModel, @Context('loaders') loaders: AdminLoaders): Promise<ApiKey[]> {
    return loaders.apiKeys.load(account.id);
  }
}
