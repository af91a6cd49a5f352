import type { BatchEndpoint } from '@app/core';
import { createHash } from 'node:crypto';
import type { UpstreamAttempt, UpstreamClient } from './upstream-client';

type Body = Record<string, unknown>;

const words = (text: string) => (text.match(/\S+/g) ?? []).length;
const text = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value ?? ''));
/** A string or a list of them (token arrays and other shapes are read as their JSON text). */
const inputs = (value: unknown): string[] => (Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : [text(value)]);

const MODERATION_CATEGORIES = [
  'harassment',
  'harassment/threatening',
  'hate',
  'hate/threatening',
  'illicit',
  'illicit/violent',
  'self-harm',
  'self-harm/intent',
  'self-harm/instructions',
  'sexual',
  'sexual/minors',
  'violence',
  'violence/graphic',
] as const;

/**
 * The built-in `mock` provider: deterministic, no network, so the embedded default runs end to end out
 * of the box. It answers every batch endpoint with a valid object of OpenAI's spec for it, derived from
 * the request (the same request always gets the same answer), with usage counted in words.
 */
export class MockUpstream implements UpstreamClient {
  async send(endpoint: BatchEndpoint, json: string): Promise<UpstreamAttempt> {
    const body = JSON.parse(json) as Body;
    const digest = createHash('sha256').update(endpoint).update(json).digest('hex').slice(0, 24);
    const model = typeof body.model === 'string' ? body.model : 'mock';
    const answer = ANSWERS[endpoint](body, model, digest);
    return { statusCode: 200, requestId: `req_mock_${digest}`, body: JSON.stringify(answer), retryAfterMs: null };
  }

  async close(): Promise<void> {}
}

const ANSWERS: Record<BatchEndpoint, (body: Body, model: string, digest: string) => unknown> = {
  '/v1/chat/completions': (body, model, digest) => {
    const messages = Array.isArray(body.messages) ? (body.messages as { content?: unknown }[]) : [];
    const texts = messages.map((m) => text(m.content));
    const reply = `This is a mock reply to: ${(texts[texts.length - 1] ?? '').slice(0, 200)}`;
    const promptTokens = texts.reduce((n, t) => n + words(t), 0);
    const completionTokens = words(reply);
    return {
      id: `chatcmpl-mock-${digest}`,
      object: 'chat.completion',
      created: 0,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: reply, refusal: null }, finish_reason: 'stop', logprobs: null }],
      usage: chatUsage(promptTokens, completionTokens),
    };
  },

  '/v1/completions': (body, model, digest) => {
    const prompts = inputs(body.prompt);
    const choices = prompts.map((prompt, index) => ({
      text: ` This is a mock completion of: ${prompt.slice(0, 200)}`,
      index,
      logprobs: null,
      finish_reason: 'stop',
    }));
    const promptTokens = prompts.reduce((n, p) => n + words(p), 0);
    return {
      id: `cmpl-mock-${digest}`,
      object: 'text_completion',
      created: 0,
      model,
      choices,
      usage: chatUsage(
        promptTokens,
        choices.reduce((n, c) => n + words(c.text), 0),
      ),
    };
  },

  '/v1/responses': (body, model, digest) => {
    const input = typeof body.input === 'string' ? body.input : text(body.input);
    const reply = `This is a mock reply to: ${input.slice(0, 200)}`;
    const inputTokens = words(input);
    const outputTokens = words(reply);
    return {
      id: `resp_mock${digest}`,
      object: 'response',
      created_at: 0,
      status: 'completed',
      error: null,
      incomplete_details: null,
      instructions: typeof body.instructions === 'string' ? body.instructions : null,
      max_output_tokens: typeof body.max_output_tokens === 'number' ? body.max_output_tokens : null,
      model,
      output: [
        {
          type: 'message',
          id: `msg_mock${digest}`,
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: reply, annotations: [], logprobs: [] }],
        },
      ],
      output_text: reply,
      parallel_tool_calls: true,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      store: false,
      temperature: typeof body.temperature === 'number' ? body.temperature : 1,
      text: { format: { type: 'text' } },
      tool_choice: 'auto',
      tools: [],
      top_p: typeof body.top_p === 'number' ? body.top_p : 1,
      truncation: 'disabled',
      usage: {
        input_tokens: inputTokens,
        input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
        output_tokens: outputTokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: inputTokens + outputTokens,
      },
      user: null,
      metadata: {},
    };
  },

  '/v1/embeddings': (body, model) => {
    const items = inputs(body.input);
    const requested = Number(body.dimensions);
    const dimensions = Number.isInteger(requested) && requested > 0 && requested <= 4096 ? requested : 16;
    const promptTokens = items.reduce((n, item) => n + words(item), 0);
    return {
      object: 'list',
      data: items.map((item, index) => ({ object: 'embedding', index, embedding: vector(item, dimensions) })),
      model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    };
  },

  '/v1/moderations': (body, model, digest) => {
    const results = inputs(body.input).map(() => ({
      flagged: false,
      categories: Object.fromEntries(MODERATION_CATEGORIES.map((c) => [c, false])),
      category_scores: Object.fromEntries(MODERATION_CATEGORIES.map((c) => [c, 0])),
      category_applied_input_types: Object.fromEntries(MODERATION_CATEGORIES.map((c) => [c, ['text']])),
    }));
    return { id: `modr-mock-${digest}`, model, results };
  },
};

function chatUsage(promptTokens: number, completionTokens: number) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** A unit vector derived from the text: the same input always gets the same embedding. */
function vector(input: string, dimensions: number): number[] {
  const values: number[] = [];
  for (let block = 0; values.length < dimensions; block++) {
    const digest = createHash('sha256').update(`${block}:${input}`).digest();
    for (let i = 0; i + 1 < digest.length && values.length < dimensions; i += 2) values.push(digest.readUInt16BE(i) / 32767.5 - 1);
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((v) => Math.round((v / norm) * 1e6) / 1e6);
}
