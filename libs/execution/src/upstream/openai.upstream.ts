import { Agent, request } from 'undici';
import type { UpstreamAttempt, UpstreamClient } from './upstream-client';

/**
 * An OpenAI-compatible realtime endpoint (vLLM, DashScope compatible mode, OpenAI): a keep-alive
 * connection pool sized to the provider's concurrency, and a per-attempt timeout.
 */
export class OpenAiUpstream implements UpstreamClient {
  private readonly agent: Agent;
  private readonly url: string;

  constructor(
    baseUrl: string,
    private readonly apiKey: string | undefined,
    connections: number,
    private readonly timeoutMs: number,
  ) {
    this.url = `${baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.agent = new Agent({ connections, keepAliveTimeout: 30_000, pipelining: 1 });
  }

  async send(body: Record<string, unknown>, signal: AbortSignal): Promise<UpstreamAttempt> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    const res = await request(this.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      dispatcher: this.agent,
      signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
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
