import { ApiError } from '@app/core';
import { checkTargetSyntax, TargetPolicy, UnsafeTargetError } from './ssrf-guard';

/**
 * The one rule for a webhook URL a client or an operator gives (a batch's callback_url, an account's
 * default webhook): an absolute URL, not empty, without credentials, HTTPS (plain HTTP only when
 * WEBHOOK_ALLOW_HTTP=true), and not a literal private address (unless WEBHOOK_ALLOW_PRIVATE=true). Names
 * are resolved and checked when delivering. `param` names the field in the 400 answer.
 */
export function checkWebhookUrl(raw: string, param: string, policy: TargetPolicy): URL {
  const refuse = (why: string) => new ApiError('invalid_request_error', `${param} ${why}`, param);
  if (raw.trim() === '') throw refuse('must be an absolute URL, not an empty string');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse('must be an absolute URL');
  }
  if (url.username || url.password) throw refuse('must not contain credentials');
  try {
    checkTargetSyntax(url, policy);
  } catch (err) {
    if (err instanceof UnsafeTargetError) throw refuse(`is not allowed: ${err.message}`);
    throw err;
  }
  return url;
}
