import { ApiError } from '@app/core';

/**
 * The syntax and scheme rule for a batch's callback_url at create: an absolute HTTPS URL without
 * credentials (plain HTTP only when WEBHOOK_ALLOW_HTTP=true). Address checks are the webhooks module's.
 */
export function checkCallbackUrlSyntax(raw: string, allowHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ApiError('invalid_request_error', 'callback_url must be an absolute URL', 'callback_url');
  }
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
    throw new ApiError('invalid_request_error', 'callback_url must use https', 'callback_url');
  }
  if (url.username || url.password) {
    throw new ApiError('invalid_request_error', 'callback_url must not contain credentials', 'callback_url');
  }
  return url;
}
