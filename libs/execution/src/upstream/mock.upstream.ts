import { createHash } from 'node:crypto';
import type { UpstreamAttempt, UpstreamClient } from './upstream-client';

const words = (text: string) => (text.match(/\S+/g) ?? []).length;

/**
 * The built-in `mock` provider: deterministic, no network. It answers every chat completion with a
 * short reply derived from the last message, so the embedded default runs end to end out of the box.
 */
export class MockUpstream implements UpstreamClient {
  async send(json: string): Promise<UpstreamAttempt> {
    const body = JSON.parse(json) as Record<string, unknown>;
    const messages = Array.isArray(body.messages) ? (body.messages as { content?: unknown }[]) : [];
    const texts = messages.map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? '')));
    const last = texts[texts.length - 1] ?? '';
    const reply = `This is a mock reply to: ${last.slice(0, 200)}`;
    const digest = createHash('sha256').update(json).digest('hex').slice(0, 24);
    const promptTokens = texts.reduce((n, t) => n + words(t), 0);
    const completionTokens = words(reply);
    const response = {
      id: `chatcmpl-mock-${digest}`,
      object: 'chat.completion',
      created: 0,
      model: typeof body.model === 'string' ? body.model : 'mock',
      choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
    return { statusCode: 200, requestId: `req_mock_${digest}`, body: JSON.stringify(response), retryAfterMs: null };
  }

  async close(): Promise<void> {}
}
