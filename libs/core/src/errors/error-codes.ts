/**
 * The one catalogue of error codes: every code the gateway answers with, its HTTP status
 * and the OpenAI `error.type` it belongs to. Both envelopes and GraphQL read it.
 */
export const ERROR_CATALOGUE = {
  invalid_request_error: { status: 400, type: 'invalid_request_error' },
  missing_file: { status: 400, type: 'invalid_request_error' },
  invalid_purpose: { status: 400, type: 'invalid_request_error' },
  too_many_lines: { status: 400, type: 'invalid_request_error' },
  batch_invalid_jsonl: { status: 400, type: 'invalid_request_error' },
  batch_multiple_models: { status: 400, type: 'invalid_request_error' },
  batch_model_not_supported: { status: 400, type: 'invalid_request_error' },
  batch_routing_unavailable: { status: 400, type: 'invalid_request_error' },
  batch_nothing_to_rerun: { status: 400, type: 'invalid_request_error' },
  query_too_complex: { status: 400, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  invalid_admin_token: { status: 401, type: 'authentication_error' },
  invalid_download_link: { status: 403, type: 'permission_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  file_in_use: { status: 409, type: 'invalid_request_error' },
  batch_not_cancellable: { status: 409, type: 'invalid_request_error' },
  batch_not_rerunnable: { status: 409, type: 'invalid_request_error' },
  conflict: { status: 409, type: 'invalid_request_error' },
  file_too_large: { status: 413, type: 'invalid_request_error' },
  request_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  unprocessable_entity: { status: 422, type: 'invalid_request_error' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  /** A batch create that would pass the account's enqueued input tokens for its model. */
  token_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  /** A batch create that would pass the account's most unfinished batches. */
  batch_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  spend_limit_exceeded: { status: 429, type: 'insufficient_quota' },
  internal_error: { status: 500, type: 'server_error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The code used when a framework error carries only an HTTP status. */
export function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 401:
      return 'invalid_api_key';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 413:
      return 'file_too_large';
    case 415:
      return 'unsupported_media_type';
    case 422:
      return 'unprocessable_entity';
    case 429:
      return 'rate_limit_exceeded';
    default:
      return status >= 500 ? 'internal_error' : 'invalid_request_error';
  }
}
