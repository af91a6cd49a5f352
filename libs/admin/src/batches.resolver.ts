import { BatchReports, BatchReruns, BatchesService } from '@app/batches';
import { Args, Context, ID, Int, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { BatchesArgs } from './graphql/inputs';
import { decodeCursor, encodeCursor, toBatchModel } from './graphql/mappers';
import {
  Batch,
  BatchConnection,
  BatchRequestDetail,
  BatchRequestRow,
  BatchRequestPage,
  BatchThroughput,
  ProviderModel,
  ProviderBatchPart,
  SkuModel,
  WebhookDeliveryModel,
} from './graphql/models';
import type { AdminLoaders } from './loaders';
import { ADMIN_QUERY_LIMITS, pagedCost, requestRowsPageSize } from './query-limits';
import { RequestRowQueries, RequestRowView } from './request-rows.queries';
import { ApiError } from '@app/core';

@Resolver(() => Batch)
export class BatchesResolver {
  constructor(
    private readonly batchesService: BatchesService,
    private readonly batchesRepository: BatchReports,
    private readonly reruns: BatchReruns,
    private readonly requestRows: RequestRowQueries,
  ) {}

  @Query(() => BatchConnection, {
    name: 'batches',
    description: 'Batches of every account, newest first',
    complexity: pagedCost(1, ADMIN_QUERY_LIMITS.batchesPageMax),
  })
  async batchesQuery(@Args() { filter, first, after }: BatchesArgs): Promise<BatchConnection> {
    const afterSeq = after ? decodeCursor(after) : null;
    if (after && afterSeq === null) throw new ApiError('invalid_request_error', 'after is not a cursor from this API', 'after');
    const page = await this.batchesRepository.search({ ...filter, statuses: filter?.status }, first, afterSeq);
    const edges = page.rows.map((row) => ({ cursor: encodeCursor(row.seq), node: toBatchModel(row) }));
    return { edges, totalCount: page.totalCount, pageInfo: { hasNextPage: page.hasMore, endCursor: edges[edges.length - 1]?.cursor ?? null } };
  }

  @Query(() => Batch, { nullable: true })
  async batch(@Args('id', { type: () => ID }) id: string): Promise<Batch | null> {
    const [view] = await this.batchesRepository.findViews([id]);
    return view ? toBatchModel(view) : null;
  }

  @Mutation(() => Batch)
  async cancelBatch(@Args('id', { type: () => ID }) id: string): Promise<Batch> {
    await this.batchesService.cancel(null, id);
    const [view] = await this.batchesRepository.findViews([id]);
    return toBatchModel(view);
  }

  @Mutation(() => Batch, {
    description:
      'A new batch of the same account from the failed or unrun lines of a finished batch (completed, expired or cancelled); errorCodes selects lines by their code, absent: the default selection (docs/api.md)',
  })
  async rerunBatch(
    @Args('id', { type: () => ID }) id: string,
    @Args('errorCodes', { type: () => [String], nullable: true }) errorCodes?: string[] | null,
  ): Promise<Batch> {
    const created = await this.reruns.rerun(null, id, { error_codes: errorCodes ?? undefined });
    const [view] = await this.batchesRepository.findViews([created.id]);
    return toBatchModel(view);
  }

  @ResolveField(() => SkuModel, { nullable: true, description: 'The SKU locked at create' })
  sku(@Parent() batch: Batch, @Context('loaders') loaders: AdminLoaders) {
    return loaders.sku.load(batch.skuId);
  }

  @ResolveField(() => ProviderModel, { nullable: true })
  provider(@Parent() batch: Batch, @Context('loaders') loaders: AdminLoaders) {
    return loaders.provider.load(batch.providerId);
  }

  @ResolveField(() => BatchThroughput, { description: "Lines finished in the last minute and the batch's share of its provider's" })
  throughput(@Parent() batch: Batch, @Context('loaders') loaders: AdminLoaders) {
    return loaders.throughput.load(batch.id);
  }

  @ResolveField(() => [ProviderBatchPart], {
    description: "The provider batches of a batch run on its provider's Batch API, in line order (empty for realtime batches)",
  })
  providerBatches(@Parent() batch: Batch, @Context('loaders') loaders: AdminLoaders) {
    return loaders.providerBatches.load(batch.id);
  }

  @ResolveField(() => [WebhookDeliveryModel])
  deliveries(@Parent() batch: Batch, @Context('loaders') loaders: AdminLoaders) {
    return loaders.deliveries.load(batch.id);
  }

  @ResolveField(() => BatchRequestDetail, {
    nullable: true,
    description: 'One request line with its stored answer (at most its first 64 KiB), read when asked for; null when the batch has no such line',
    complexity: ({ childComplexity }) => ADMIN_QUERY_LIMITS.requestDetailCost + childComplexity,
  })
  async request(@Parent() batch: Batch, @Args('line', { type: () => Int }) line: number): Promise<BatchRequestDetail | null> {
    const r = await this.requestRows.one(batch.id, line, ADMIN_QUERY_LIMITS.responseBodyMaxBytes);
    if (!r) return null;
    return {
      ...toRequestRow(r),
      responseBody: r.responseBody,
      responseBytes: r.responseBytes,
      truncated: r.truncated,
    };
  }

  @ResolveField(() => BatchRequestPage, {
    description: 'Request rows in line order, without their answers (read one with request(line:))',
    complexity: pagedCost(ADMIN_QUERY_LIMITS.queryCost, ADMIN_QUERY_LIMITS.requestRowsMax),
  })
  async requests(
    @Parent() batch: Batch,
    @Context('loaders') loaders: AdminLoaders,
    @Args('first', { type: () => Int, defaultValue: 50 }) first: number,
    @Args('afterLine', { type: () => Int, defaultValue: 0 }) afterLine: number,
    @Args('status', { type: () => String, nullable: true }) status?: string,
  ): Promise<BatchRequestPage> {
    const limit = requestRowsPageSize(first);
    const rows = await loaders.requestPages.load(JSON.stringify([batch.id, afterLine, limit, status ?? null]));
    return {
      rows: rows.map(toRequestRow),
      nextAfterLine: rows.length === limit ? rows[rows.length - 1].line : null,
    };
  }
}

function toRequestRow(r: RequestRowView): BatchRequestRow {
  return {
    line: r.line,
    customId: r.customId,
    status: r.status,
    attempts: r.attempts,
    upstreamStatus: r.statusCode,
    latencyMs: r.latencyMs,
    errorCode: r.errorCode,
    errorMessage: r.errorMessage,
    finishedAt: r.finishedAt,
  };
}
