import type { BatchEndpoint, Money } from '@app/core';
import type { ExecutionMode } from '@app/routing';
import type { BatchErrorEntry, BatchStatus, StopReason } from './entities/batch.entity';

/** The OpenAI batch object (plus `callback_url`). */
export interface BatchObject {
  id: string;
  object: 'batch';
  endpoint: string;
  model: string;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  usage: {
    input_tokens: number;
    output_tokens: number;
    total_tokens: number;
    input_tokens_details: { cached_tokens: number };
    output_tokens_details: { reasoning_tokens: number };
  };
  /** Extension: what the finished lines cost so far at the prices locked at create; null when the route has no prices. */
  cost: Money | null;
  metadata: Record<string, string> | null;
  errors: { object: 'list'; data: BatchErrorEntry[] } | null;
  callback_url: string | null;
}

/** What the execution engine needs of a batch. */
export interface BatchRun {
  id: string;
  accountId: string;
  inputFileId: string;
  status: BatchStatus;
  stopReason: StopReason | null;
  model: string;
  providerId: string;
  upstreamModel: string;
  endpoint: BatchEndpoint;
  execution: ExecutionMode;
  total: number;
  /** Lines finished so far (completed or failed). */
  finished: number;
  expiresAt: number;
  cancellingAt: number | null;
  /** The prices locked at create (per million tokens, batch discount applied); null: unpriced. */
  inputPricePerMtok: number | null;
  outputPricePerMtok: number | null;
  costCurrency: string | null;
  /** How long after they are written the output and error files expire. */
  outputExpiresAfterSeconds: number;
}

/** Counter increments written together with the request rows they count. */
export interface BatchProgress {
  completed: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  /** Micro-units of the batch's currency. */
  costMicros: number;
}

/** The operator's view of a batch: the public object plus the owner and the routing lock. */
export interface BatchView extends BatchObject {
  account_id: string;
  sku_id: string;
  provider_id: string;
  upstream_model: string;
  execution: ExecutionMode;
  /** Its input file's token estimate at create (null: not counted then). */
  input_tokens_estimate: number | null;
  /** The prices locked at create, per million tokens (batch discount applied); null: unpriced. */
  input_price_per_mtok: number | null;
  output_price_per_mtok: number | null;
  seq: number;
}

export interface BatchSearch {
  statuses?: string[];
  accountId?: string;
  model?: string;
  createdAfter?: number;
  createdBefore?: number;
  metadataKey?: string;
  metadataValue?: string;
}
