/**
 * What the token estimate of an input file counts, line by line. It runs inside the counting worker
 * thread, so it imports nothing of the app (no `@app/…` paths, which a worker cannot resolve).
 *
 * The encoding follows the model's name: `o200k_base` for the GPT-4o, GPT-4.1, GPT-5 and o-series
 * families, `cl100k_base` for GPT-4, GPT-3.5 and OpenAI's embeddings; any other model (open models
 * served by vLLM, Qwen, …) is estimated at one token per 4 characters of its text, rounded up.
 */
export type TokenEncoding = 'o200k_base' | 'cl100k_base' | 'chars_per_4';

/** Tokens every chat message adds around its fields, and a request adds to prime the reply (OpenAI's cookbook). */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const TOKENS_PER_REPLY = 3;

export function encodingFor(model: string): TokenEncoding {
  // A fine-tuned model (`ft:gpt-4o-mini:org::id`) counts like its base; an `openai/` prefix is a router's.
  const name = model
    .toLowerCase()
    .replace(/^ft:/, '')
    .replace(/^openai\//, '');
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss|codex)/.test(name)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|gpt-35|text-embedding-|text-davinci-00[23])/.test(name)) return 'cl100k_base';
  return 'chars_per_4';
}

/** Counts the tokens of one piece of text. */
export type TextCounter = (text: string) => number;

/** The approximation for a model no tokenizer knows: one token per 4 characters (UTF-16 code units), rounded up. */
export function charsPer4(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * The input tokens of one request line: the text the endpoint sends as input. Chat completions: each
 * message's role, content (a string, or the `text` of its parts) and name, plus the cookbook's overhead
 * per message and per request. Responses: `input` (a string, or its items' content, as chat messages)
 * and `instructions`. Embeddings, moderations: `input` (a string or an array of strings). Completions:
 * `prompt`. Token-id arrays (embeddings, completions) count one token per id. Anything else: 0.
 */
export function requestInputTokens(url: unknown, body: Record<string, unknown>, count: TextCounter): number {
  switch (url) {
    case '/v1/chat/completions':
      return chatTokens(body.messages, count);
    case '/v1/responses': {
      const instructions = typeof body.instructions === 'string' ? count(body.instructions) : 0;
      if (typeof body.input === 'string') return instructions + count(body.input);
      return instructions + (Array.isArray(body.input) ? chatTokens(body.input, count) : 0);
    }
    case '/v1/embeddings':
    case '/v1/moderations':
      return inputTokens(body.input, count);
    case '/v1/completions':
      return inputTokens(body.prompt, count);
    default:
      return 0;
  }
}

function chatTokens(messages: unknown, count: TextCounter): number {
  if (!Array.isArray(messages) || messages.length === 0) return 0;
  let tokens = TOKENS_PER_REPLY;
  for (const message of messages) {
    if (typeof message !== 'object' || message === null) continue;
    const { role, content, name } = message as Record<string, unknown>;
    tokens += TOKENS_PER_MESSAGE;
    if (typeof role === 'string') tokens += count(role);
    if (typeof name === 'string') tokens += count(name) + TOKENS_PER_NAME;
    tokens += contentTokens(content, count);
  }
  return tokens;
}

/** A message's content: a string, or parts whose `text` (chat `text`, responses `input_text`/`output_text`) counts. */
function contentTokens(content: unknown, count: TextCounter): number {
  if (typeof content === 'string') return count(content);
  if (!Array.isArray(content)) return 0;
  let tokens = 0;
  for (const part of content) {
    if (typeof part === 'string') tokens += count(part);
    else if (typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string')
      tokens += count((part as { text: string }).text);
  }
  return tokens;
}

/** `input`/`prompt`: a string, an array of strings, an array of token ids, or an array of such arrays. */
function inputTokens(input: unknown, count: TextCounter): number {
  if (typeof input === 'string') return count(input);
  if (!Array.isArray(input)) return 0;
  let tokens = 0;
  for (const item of input) {
    if (typeof item === 'string') tokens += count(item);
    else if (typeof item === 'number') tokens += 1;
    else if (Array.isArray(item)) tokens += item.length;
  }
  return tokens;
}
