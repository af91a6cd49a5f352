import { Agent, request } from 'undici';
import type { UpstreamAttempt, UpstreamClient } from './upstream-client';

/**
 * An OpenAI-compatible realtime endpoint (vLLM, DashScope compatible mode, OpenAI): a keep-alive
 * connection pool sized to the provider's concurrency, and a per-attempt timeout. The timeout is
 * undici's own (no response headers within it, or no body bytes for that long), which costs nothing
 * per request, where a timer signal combined with the stop signal costs several microseconds each.
 */
export class OpenAiUpstream implements UpstreamClient {
  private readonly agent: Agent;
  private readonly url: string;
  private readonly headers: Record<string, string>;

  constructor(
    baseUrl: string,
    apiKey: string | undefined,
    connections: number,
    private readonly timeoutMs: number,
  ) {
    this.url = `${baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.agent = new Agent({ connections, keepAliveTimeout: 30_000, pipelining: 1 });
    this.headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (apiKey) this.headers.authorization = `Bearer ${apiKey}`;
  }

  async send(body: Record<string, unknown>, signal: AbortSignal): Promise<UpstreamAttempt> {
    const res = await request(this.url, {
      method: 'POST',
      headers: this.headers,
      body: JSON.stringify(body),
      dispatcher: this.agent,
      signal,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    const text = await res.body.text();
    const header = (name: string) => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : (v ?? null);
    };
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

/** `Retry-After` as seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
