import { money } from '@app/core';
import type { BatchObject, BatchView } from './batch.types';
import type { BatchEntity } from './entities/batch.entity';

/** The public batch object of a stored batch. */
export function toBatchObject(b: BatchEntity): BatchObject {
  return {
    id: b.id,
    object: 'batch',
    endpoint: b.endpoint,
    model: b.model,
    input_file_id: b.inputFileId,
    completion_window: b.completionWindow,
    status: b.status,
    output_file_id: b.outputFileId,
    error_file_id: b.errorFileId,
    created_at: b.createdAt,
    in_progress_at: b.inProgressAt,
    expires_at: b.expiresAt,
    finalizing_at: b.finalizingAt,
    completed_at: b.completedAt,
    failed_at: b.failedAt,
    expired_at: b.expiredAt,
    cancelling_at: b.cancellingAt,
    cancelled_at: b.cancelledAt,
    // Lines of provider batches count as soon as the provider reports them, before their results are collected.
    request_counts: { total: b.total, completed: b.completed + b.remoteCompleted, failed: b.failed + b.remoteFailed },
    usage: {
      input_tokens: b.promptTokens,
      output_tokens: b.completionTokens,
      total_tokens: b.totalTokens,
      input_tokens_details: { cached_tokens: b.cachedTokens },
      output_tokens_details: { reasoning_tokens: b.reasoningTokens },
    },
    cost: b.costCurrency ? money(b.costCurrency, b.costMicros) : null,
    metadata: b.metadata,
    errors: b.errors && b.errors.length > 0 ? { object: 'list', data: b.errors } : null,
    callback_url: b.callbackUrl,
  };
}

export function toBatchView(b: BatchEntity): BatchView {
  return {
    ...toBatchObject(b),
    account_id: b.accountId,
    sku_id: b.skuId,
    provider_id: b.providerId,
    upstream_model: b.upstreamModel,
    execution: b.execution,
    input_tokens_estimate: b.inputTokensEstimate,
    input_price_per_mtok: b.inputPricePerMtok,
    output_price_per_mtok: b.outputPricePerMtok,
    seq: b.seq,
  };
}
