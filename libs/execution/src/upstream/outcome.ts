import { REQUEST_ERROR_CODES, UpstreamFailure, UpstreamOutcome } from './upstream-client';

/**
 * What an answer means for its line, the same for both executors: a realtime exchange, or a line of a
 * provider batch's output or error file. 2xx completes the line (with the usage it reports); any other
 * status fails it with a code by status class, keeping the body; no answer fails it with a reason.
 */
export type LineOutcome = Omit<UpstreamOutcome, 'attempts' | 'latencyMs'>;

/** An outcome for a line that got no HTTP answer (or was never sent): `error` says why. */
export function noAnswer(code: string, message: string): LineOutcome {
  return { ok: false, statusCode: null, requestId: null, body: null, ...NO_USAGE, error: { code, message } };
}

/** An HTTP answer whose body is text as received. */
export function answerOutcome(exchange: { statusCode: number; requestId: string | null; body: string }): LineOutcome {
  return classify(exchange.statusCode, exchange.requestId, storedBody(exchange.body), exchange.body);
}

/** An HTTP answer whose body is already parsed (a line of a provider batch's result file). */
export function parsedAnswerOutcome(statusCode: number, requestId: string | null, body: unknown): LineOutcome {
  const json = JSON.stringify(body ?? null);
  return classify(statusCode, requestId, { json, value: body }, json);
}

function classify(status: number, requestId: string | null, { json, value }: { json: string; value: unknown }, raw: string): LineOutcome {
  if (status >= 200 && status < 300) {
    // A 2xx without JSON still counts as answered; it just reports no usage.
    return { ok: true, statusCode: status, requestId, body: json, ...usageOf(value), error: null };
  }
  const reported = (value as { error?: { message?: unknown } } | null | undefined)?.error?.message;
  const upstreamMessage = plainText(typeof reported === 'string' ? reported : value === undefined ? raw : '', 200);
  const code = status === 429 ? REQUEST_ERROR_CODES.rateLimited : status >= 500 ? REQUEST_ERROR_CODES.serverError : REQUEST_ERROR_CODES.clientError;
  return {
    ok: false,
    statusCode: status,
    requestId,
    body: json,
    ...NO_USAGE,
    error: { code, message: `Upstream answered HTTP ${status}${upstreamMessage ? `: ${upstreamMessage}` : ''}` },
  };
}

const NO_USAGE = { promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 } as const;

interface ReportedUsage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  input_tokens?: unknown;
  output_tokens?: unknown;
  prompt_tokens_details?: { cached_tokens?: unknown } | null;
  input_tokens_details?: { cached_tokens?: unknown } | null;
  completion_tokens_details?: { reasoning_tokens?: unknown } | null;
  output_tokens_details?: { reasoning_tokens?: unknown } | null;
}

/**
 * The tokens an answer reports, whatever its endpoint: chat and text completions and embeddings count
 * prompt/completion tokens, responses input/output tokens, each with their cached and reasoning details;
 * moderations report none.
 */
export function usageOf(body: unknown): typeof NO_USAGE | { promptTokens: number; completionTokens: number; cachedTokens: number; reasoningTokens: number } {
  const usage = (body as { usage?: ReportedUsage | null } | null | undefined)?.usage;
  if (!usage || typeof usage !== 'object') return NO_USAGE;
  const count = (...values: unknown[]) => {
    for (const v of values) if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.trunc(v);
    return 0;
  };
  return {
    promptTokens: count(usage.prompt_tokens, usage.input_tokens),
    completionTokens: count(usage.completion_tokens, usage.output_tokens),
    cachedTokens: count(usage.prompt_tokens_details?.cached_tokens, usage.input_tokens_details?.cached_tokens),
    reasoningTokens: count(usage.completion_tokens_details?.reasoning_tokens, usage.output_tokens_details?.reasoning_tokens),
  };
}

/**
 * An answer body as it is stored and written to the output files: compact JSON on one line whatever
 * the upstream sent (pretty-printed JSON would break JSONL), or the text as a JSON string when it is
 * not JSON. `value` is the parsed body, when it parsed.
 */
function storedBody(text: string): { json: string; value: unknown } {
  try {
    const value: unknown = JSON.parse(text);
    return { json: JSON.stringify(value), value };
  } catch {
    // Not JSON, or nested too deeply to serialise again: kept as a JSON string.
    return { json: JSON.stringify(text), value: undefined };
  }
}

/** Text that came from an upstream, made safe to store: no NUL (PostgreSQL refuses it in text), bounded length. */
export function plainText(text: string, max = 1000): string {
  const clean = text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** A failed exchange without an answer: a timeout (ours or undici's) or a connection that could not be made. */
export function describeNetworkError(err: Error): UpstreamFailure {
  const code = (err as { code?: unknown }).code;
  const name = typeof code === 'string' ? code : err.name;
  // The stop signal was ruled out before, so an abort here is our own per-attempt timeout.
  if (name === 'TimeoutError' || name === 'AbortError' || name === 'UND_ERR_ABORTED' || name === 'UND_ERR_HEADERS_TIMEOUT' || name === 'UND_ERR_BODY_TIMEOUT') {
    return new UpstreamFailure(REQUEST_ERROR_CODES.timeout, 'The upstream did not answer in time', true);
  }
  return new UpstreamFailure(REQUEST_ERROR_CODES.unreachable, `The upstream could not be reached (${plainText(name, 100)})`, true);
}
