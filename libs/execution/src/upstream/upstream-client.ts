import type { BatchEndpoint } from '@app/core';

/** Error codes a request line can end with; documented in docs/api.md. */
export const REQUEST_ERROR_CODES = {
  clientError: 'upstream_client_error',
  serverError: 'upstream_server_error',
  rateLimited: 'upstream_rate_limited',
  timeout: 'upstream_timeout',
  unreachable: 'upstream_unreachable',
  disconnected: 'upstream_disconnected',
  tooLarge: 'upstream_response_too_large',
  invalidLine: 'invalid_request_line',
  batchFailed: 'upstream_batch_failed',
  missingResult: 'upstream_missing_result',
  cancelled: 'batch_cancelled',
  expired: 'batch_expired',
  spendLimit: 'spend_limit_reached',
} as const;

/** What one request line became after all its attempts. */
export interface UpstreamOutcome {
  ok: boolean;
  attempts: number;
  /** Time to the answer; null when not measured here (a provider batch ran the line). */
  latencyMs: number | null;
  statusCode: number | null;
  requestId: string | null;
  /** The response body as compact JSON text on one line (a JSON string literal when the upstream sent no JSON). */
  body: string | null;
  promptTokens: number;
  completionTokens: number;
  /** Of the prompt tokens, those served from the provider's cache; of the completion tokens, those spent reasoning. */
  cachedTokens: number;
  reasoningTokens: number;
  error: { code: string; message: string } | null;
}

/** One HTTP exchange with an upstream, before retry policy is applied. */
export interface UpstreamAttempt {
  statusCode: number;
  requestId: string | null;
  body: string;
  retryAfterMs: number | null;
}

/** An attempt that ended without a whole answer, for a reason the client recognised (the rest are network errors). */
export class UpstreamFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** A provider kind: sends one request body (JSON text) to one of the batch endpoints and returns the raw exchange. */
export interface UpstreamClient {
  send(endpoint: BatchEndpoint, json: string, signal: AbortSignal): Promise<UpstreamAttempt>;
  close(): Promise<void>;
}
