import { ApiError } from '@app/core';

/** OpenAI's bounds for `expires_after` (files) and `output_expires_after` (batches): 1 hour to 30 days. */
export const MIN_EXPIRES_AFTER_SECONDS = 3600;
export const MAX_EXPIRES_AFTER_SECONDS = 2_592_000;
/** Batch input files, and a batch's output and error files, expire 30 days after their creation unless asked otherwise (as OpenAI). */
export const DEFAULT_EXPIRES_AFTER_SECONDS = 2_592_000;

/** An expiration policy as OpenAI spells it; `created_at` is the only anchor. */
export interface ExpiresAfter {
  anchor: 'created_at';
  seconds: number;
}

/**
 * The seconds of an `expires_after`-shaped parameter named `param`, or the default when it is absent.
 * `seconds` may be a string of digits: multipart fields arrive as text (the official SDKs send
 * `expires_after[anchor]` and `expires_after[seconds]`, which multer nests into one object).
 */
export function expiresAfterSeconds(value: unknown, param: string): number {
  if (value === undefined || value === null) return DEFAULT_EXPIRES_AFTER_SECONDS;
  const shape = `{"anchor": "created_at", "seconds": ${MIN_EXPIRES_AFTER_SECONDS} to ${MAX_EXPIRES_AFTER_SECONDS}}`;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ApiError('invalid_request_error', `${param} must be an object ${shape}`, param);
  }
  const fields = value as Record<string, unknown>;
  const extra = Object.keys(fields).find((key) => key !== 'anchor' && key !== 'seconds');
  if (extra !== undefined) {
    throw new ApiError('invalid_request_error', `${param} takes only anchor and seconds, ${shape}; '${extra}' is not one of them`, param);
  }
  if (fields.anchor !== 'created_at') {
    throw new ApiError('invalid_request_error', `${param}.anchor must be 'created_at'`, `${param}.anchor`);
  }
  const seconds = typeof fields.seconds === 'string' && /^\d{1,10}$/.test(fields.seconds) ? Number(fields.seconds) : fields.seconds;
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < MIN_EXPIRES_AFTER_SECONDS || seconds > MAX_EXPIRES_AFTER_SECONDS) {
    throw new ApiError(
      'invalid_request_error',
      `${param}.seconds must be an integer from ${MIN_EXPIRES_AFTER_SECONDS} (1 hour) to ${MAX_EXPIRES_AFTER_SECONDS} (30 days)`,
      `${param}.seconds`,
    );
  }
  return seconds;
}
