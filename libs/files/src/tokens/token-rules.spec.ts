import { countTokens as o200k } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import { charsPer4, encodingFor, requestInputTokens, TOKENS_PER_MESSAGE, TOKENS_PER_NAME, TOKENS_PER_REPLY } from './token-rules';

const words = (text: string) => text.split(' ').length;

describe('token rules', () => {
  it('chooses the encoding by the model name, and the chars/4 approximation for models it does not know', () => {
    for (const model of [
      'gpt-4o',
      'gpt-4o-mini-2024-07-18',
      'gpt-4.1-nano',
      'gpt-5',
      'o1-mini',
      'o3',
      'o4-mini',
      'ft:gpt-4o-mini:acme::x1',
      'openai/gpt-oss-20b',
    ]) {
      expect([model, encodingFor(model)]).toEqual([model, 'o200k_base']);
    }
    for (const model of ['gpt-4', 'gpt-4-turbo', 'gpt-3.5-turbo', 'text-embedding-3-small', 'text-embedding-ada-002']) {
      expect([model, encodingFor(model)]).toEqual([model, 'cl100k_base']);
    }
    for (const model of ['qwen-plus', 'Qwen/Qwen2.5-7B-Instruct', 'batch-test-model', 'claude-3-5-sonnet', 'llama-3.1-8b']) {
      expect([model, encodingFor(model)]).toEqual([model, 'chars_per_4']);
    }
    expect(charsPer4('')).toBe(0);
    expect(charsPer4('abcde')).toBe(2);
  });

  it("counts chat messages' roles, names, content strings and text parts, with the cookbook's overhead per message and per request", () => {
    const body = {
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'one two three' },
        {
          role: 'user',
          name: 'ann',
          content: [
            { type: 'text', text: 'four five' },
            { type: 'image_url', image_url: { url: 'https://x/y.png' } },
          ],
        },
      ],
    };
    expect(requestInputTokens('/v1/chat/completions', body, words)).toBe(TOKENS_PER_REPLY + 2 * TOKENS_PER_MESSAGE + 1 + 3 + (1 + 1 + TOKENS_PER_NAME) + 2);
  });

  it('counts responses input (string or messages) and instructions, embeddings and moderations input, completions prompt', () => {
    expect(requestInputTokens('/v1/responses', { input: 'a b c', instructions: 'd e' }, words)).toBe(5);
    expect(requestInputTokens('/v1/responses', { input: [{ role: 'user', content: [{ type: 'input_text', text: 'a b' }] }] }, words)).toBe(
      TOKENS_PER_REPLY + TOKENS_PER_MESSAGE + 1 + 2,
    );
    expect(requestInputTokens('/v1/embeddings', { input: ['a b', 'c'] }, words)).toBe(3);
    expect(requestInputTokens('/v1/embeddings', { input: [[1, 2, 3], [4]] }, words)).toBe(4);
    expect(requestInputTokens('/v1/moderations', { input: 'a b c d' }, words)).toBe(4);
    expect(requestInputTokens('/v1/completions', { prompt: 'a b' }, words)).toBe(2);
    expect(requestInputTokens('/v1/completions', { prompt: [5, 6, 7] }, words)).toBe(3);
    expect(requestInputTokens('/v1/unknown', { prompt: 'a' }, words)).toBe(0);
  });

  it("matches gpt-tokenizer's own chat encoding for text messages (the format an OpenAI upstream counts)", () => {
    const messages = [
      { role: 'system' as const, content: 'You are a careful assistant. Answer in one paragraph.' },
      { role: 'user' as const, content: 'Résumé of the quarterly revenue forecast, 東京 数据 ✓ "quoted" and <|endoftext|> as text.' },
    ];
    const plain = { disallowedSpecial: new Set<string>() };
    const ours = requestInputTokens('/v1/chat/completions', { messages }, (t) => o200k(t, plain));
    const chat = messages.reduce((n, m) => n + o200k(m.role, plain) + o200k(m.content, plain) + 3, 3);
    expect(ours).toBe(chat);
  });
});
