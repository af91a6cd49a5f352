import { Agent, Dispatcher, request } from 'undici';
import { BATCH_ENDPOINTS, BatchEndpoint, upstreamPath } from '@app/core';
import { REQUEST_ERROR_CODES, UpstreamAttempt, UpstreamClient, UpstreamFailure } from './upstream-client';

export interface OpenAiUpstreamOptions {
  baseUrl: string;
  apiKey: string | undefined;
  connections: number;
  /** The whole attempt, headers and body; no pause in the body may be longer either. */
  timeoutMs: number;
  /** Largest answer read; a larger one ends the attempt. */
  maxResponseBytes: number;
}

/**
 * An OpenAI-compatible realtime endpoint (vLLM, DashScope compatible mode, OpenAI): a keep-alive
 * connection pool sized to the provider's concurrency. Each attempt has undici's header and idle-body
 * timeouts, an overall deadline (one plain timer, so an answer that trickles in cannot hold a line
 * forever), and a size limit on the answer, checked on the declared length and again as bytes arrive.
 */
export class OpenAiUpstream implements UpstreamClient {
  private readonly agent: Agent;
  private readonly urls: Record<BatchEndpoint, string>;
  private readonly headers: Record<string, string>;

  constructor(private readonly options: OpenAiUpstreamOptions) {
    const base = options.baseUrl.replace(/\/+$/, '');
    // The batch's endpoint under the base URL: /v1/embeddings → <base_url>/embeddings.
    this.urls = Object.fromEntries(BATCH_ENDPOINTS.map((e) => [e, `${base}${upstreamPath(e)}`])) as Record<BatchEndpoint, string>;
    this.agent = new Agent({ connections: options.connections, keepAliveTimeout: 30_000, pipelining: 1 });
    this.headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (options.apiKey) this.headers.authorization = `Bearer ${options.apiKey}`;
  }

  async send(endpoint: BatchEndpoint, json: string, signal: AbortSignal): Promise<UpstreamAttempt> {
    const { timeoutMs, maxResponseBytes } = this.options;
    const started = performance.now();
    const res = await request(this.urls[endpoint], {
      method: 'POST',
      headers: this.headers,
      body: json,
      dispatcher: this.agent,
      signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const header = (name: string) => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : (v ?? null);
    };
    const declared = Number(header('content-length'));
    if (declared > maxResponseBytes) {
      res.body.destroy();
      throw tooLarge(maxResponseBytes);
    }
    const text = await readBody(res.body, maxResponseBytes, timeoutMs - (performance.now() - started));
    return {
      statusCode: res.statusCode,
      requestId: header('x-request-id'),
      body: text,
      retryAfterMs: parseRetryAfter(header('retry-after')),
    };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

const tooLarge = (max: number) =>
  new UpstreamFailure(REQUEST_ERROR_CODES.tooLarge, `The upstream's answer is larger than ${max} bytes (UPSTREAM_MAX_RESPONSE_BYTES)`, false);

/** Reads an answer to its end within `max` bytes and `remainingMs`; failures say what happened to the answer. */
function readBody(body: Dispatcher.ResponseData['body'], max: number, remainingMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const deadline = setTimeout(
      () => body.destroy(new UpstreamFailure(REQUEST_ERROR_CODES.timeout, 'The upstream did not finish its answer in time', true)),
      Math.max(0, remainingMs),
    );
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) body.destroy(tooLarge(max));
      else chunks.push(chunk);
    });
    body.once('end', () => {
      clearTimeout(deadline);
      resolve((chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)).toString('utf8'));
    });
    body.once('error', (err: Error & { code?: string }) => {
      clearTimeout(deadline);
      if (err instanceof UpstreamFailure) return reject(err);
      if (err.code === 'UND_ERR_BODY_TIMEOUT')
        return reject(new UpstreamFailure(REQUEST_ERROR_CODES.timeout, 'The upstream paused its answer for too long', true));
      if (err.name === 'AbortError' || err.code === 'UND_ERR_ABORTED') return reject(err);
      reject(
        new UpstreamFailure(REQUEST_ERROR_CODES.disconnected, `The upstream connection closed before the answer was complete (${err.code ?? err.name})`, true),
      );
    });
  });
}

/** `Retry-After` as seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
