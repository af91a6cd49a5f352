import { RoutingService } from '@app/routing';
import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { ProviderUpsertInput, SkuUpsertInput } from './graphql/inputs';
import { ProviderModel, SkuModel } from './graphql/models';

/** Routing changes apply to batches created afterwards; running batches keep the SKU they locked. */
@Resolver()
export class RoutingResolver {
  constructor(private readonly routing: RoutingService) {}

  @Query(() => [ProviderModel])
  providers(): Promise<ProviderModel[]> {
    return this.routing.listProviders();
  }

  @Query(() => [SkuModel])
  skus(): Promise<SkuModel[]> {
    return this.routing.listSkus();
  }

  @Mutation(() => ProviderModel)
  upsertProvider(@Args('input') input: ProviderUpsertInput): Promise<ProviderModel> {
    return this.routing.upsertProvider({
      id: input.id,
      kind: input.kind,
      base_url: input.baseUrl,
      api_key_env: input.apiKeyEnv,
      max_concurrency: input.maxConcurrency,
      rate_limit_per_minute: input.rateLimitPerMinute,
      timeout_ms: input.timeoutMs,
      batch_api: input.batchApi,
      batch_poll_interval_ms: input.batchPollIntervalMs,
      max_batch_lines: input.maxBatchLines,
      max_batch_bytes: input.maxBatchBytes,
    });
  }

  @Mutation(() => SkuModel)
  upsertSku(@Args('input') input: SkuUpsertInput): Promise<SkuModel> {
    return this.routing.upsertSku({
      id: input.id,
      model: input.model,
      provider: input.providerId,
      upstream_model: input.upstreamModel,
      batch_capable: input.batchCapable,
      endpoints: input.endpoints,
      active: input.active,
      priority: input.priority,
      weight: input.weight,
      input_price_per_mtok: input.inputPricePerMtok,
      output_price_per_mtok: input.outputPricePerMtok,
      batch_discount: input.batchDiscount,
    });
  }

  @Mutation(() => SkuModel)
  setSkuActive(@Args('id', { type: () => ID }) id: string, @Args('active') active: boolean): Promise<SkuModel> {
    return this.routing.setSkuActive(id, active);
  }
}
