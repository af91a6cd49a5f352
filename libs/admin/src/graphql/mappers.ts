import type { BatchView } from '@app/batches';
import type { Batch } from './models';

export function toBatchModel(b: BatchView): Batch {
  const finished = b.request_counts.completed + b.request_counts.failed;
  return {
    id: b.id,
    status: b.status,
    accountId: b.account_id,
    model: b.model,
    endpoint: b.endpoint,
    completionWindow: b.completion_window,
    inputFileId: b.input_file_id,
    outputFileId: b.output_file_id,
    errorFileId: b.error_file_id,
    createdAt: b.created_at,
    inProgressAt: b.in_progress_at,
    expiresAt: b.expires_at,
    finalizingAt: b.finalizing_at,
    completedAt: b.completed_at,
    failedAt: b.failed_at,
    expiredAt: b.expired_at,
    cancellingAt: b.cancelling_at,
    cancelledAt: b.cancelled_at,
    requestCounts: b.request_counts,
    progress: b.request_counts.total === 0 ? (b.status === 'completed' ? 1 : 0) : finished / b.request_counts.total,
    usage: {
      inputTokens: b.usage.input_tokens,
      outputTokens: b.usage.output_tokens,
      totalTokens: b.usage.total_tokens,
      cachedTokens: b.usage.input_tokens_details.cached_tokens,
      reasoningTokens: b.usage.output_tokens_details.reasoning_tokens,
    },
    cost: b.cost,
    inputPricePerMtok: b.input_price_per_mtok,
    outputPricePerMtok: b.output_price_per_mtok,
    metadata: Object.entries(b.metadata ?? {}).map(([key, value]) => ({ key, value })),
    errors: b.errors?.data ?? [],
    callbackUrl: b.callback_url,
    upstreamModel: b.upstream_model,
    execution: b.execution,
    inputTokensEstimate: b.input_tokens_estimate,
    skuId: b.sku_id,
    providerId: b.provider_id,
  };
}

export const encodeCursor = (seq: number) => Buffer.from(`batch:${seq}`).toString('base64url');

export function decodeCursor(cursor: string): number | null {
  const match = /^batch:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString());
  return match ? Number(match[1]) : null;
}
