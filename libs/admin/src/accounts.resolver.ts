import { AccountsService } from '@app/accounts';
import { WebhooksService } from '@app/webhooks';
import { Args, ID, Int, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { Account, ApiKey, CreatedApiKey } from './graphql/models';

@Resolver(() => Account)
export class AccountsResolver {
  constructor(
    private readonly accountsService: AccountsService,
    private readonly webhooks: WebhooksService,
  ) {}

  @Query(() => [Account], { name: 'accounts' })
  accounts(): Promise<Account[]> {
    return this.accountsService.listAccounts();
  }

  @Mutation(() => Account)
  createAccount(@Args('name') name: string): Promise<Account> {
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

  @Mutation(() => Account, { description: 'Sets the default webhook URL; null clears it' })
  setAccountWebhook(
    @Args('accountId', { type: () => ID }) accountId: string,
    @Args('url', { type: () => String, nullable: true }) url: string | null,
  ): Promise<Account> {
    return this.webhooks.setAccountWebhook(accountId, url ?? null);
  }

  @Mutation(() => Account, { description: "Sets the account's scheduling weight (1 to 1000)" })
  setAccountWeight(@Args('accountId', { type: () => ID }) accountId: string, @Args('weight', { type: () => Int }) weight: number): Promise<Account> {
    return this.accountsService.setWeight(accountId, weight);
  }

  @Mutation(() => Account)
  rotateWebhookSecret(@Args('accountId', { type: () => ID }) accountId: string): Promise<Account> {
    return this.accountsService.rotateWebhookSecret(accountId);
  }

  @ResolveField(() => [ApiKey])
  apiKeys(@Parent() account: Account): Promise<ApiKey[]> {
    return this.accountsService.listApiKeys(account.id);
  }
}
