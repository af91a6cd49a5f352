/**
 * The endpoints a batch may run, as OpenAI's Batch API lists them; `/v1/chat/completions` is the
 * default. A request line's `url` must be its batch's endpoint, and its body must carry the model and
 * the field the endpoint requires (OpenAI's spec).
 */
export const BATCH_ENDPOINTS = ['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/completions', '/v1/moderations'] as const;
export type BatchEndpoint = (typeof BATCH_ENDPOINTS)[number];
export const DEFAULT_BATCH_ENDPOINT: BatchEndpoint = '/v1/chat/completions';

export const REQUIRED_BODY_FIELD: Record<BatchEndpoint, 'messages' | 'input' | 'prompt'> = {
  '/v1/chat/completions': 'messages',
  '/v1/responses': 'input',
  '/v1/embeddings': 'input',
  '/v1/completions': 'prompt',
  '/v1/moderations': 'input',
};

export function isBatchEndpoint(value: unknown): value is BatchEndpoint {
  return typeof value === 'string' && (BATCH_ENDPOINTS as readonly string[]).includes(value);
}

/** The path of an endpoint under a provider's base_url (which ends with /v1 by convention). */
export function upstreamPath(endpoint: BatchEndpoint): string {
  return endpoint.replace(/^\/v1/, '');
}
