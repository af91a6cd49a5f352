import { Readable } from 'node:stream';
import { countTokens as cl100k } from 'gpt-tokenizer/cjs/encoding/cl100k_base';
import { countTokens as o200k } from 'gpt-tokenizer/cjs/encoding/o200k_base';
import { TokenCounter } from '../../libs/files/src/tokens/token-counter';
import { charsPer4, requestInputTokens, TextCounter } from '../../libs/files/src/tokens/token-rules';

/**
 * TokenCounter with its real worker thread and gpt-tokenizer: a request file streamed in chunks of any
 * size (lines and multi-byte characters cut between chunks) counts the same as line by line, each line
 * with the encoding of its own model; lines that are not requests count nothing.
 */

const PLAIN = { disallowedSpecial: new Set<string>() };
const ENCODINGS: Record<string, TextCounter> = {
  'gpt-4o': (t) => o200k(t, PLAIN),
  'gpt-3.5-turbo': (t) => cl100k(t, PLAIN),
  'qwen-plus': charsPer4,
};

const LINES = [
  { url: '/v1/chat/completions', body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'Résumé: 東京 数据 ✓ naïve café 🙂 <|endoftext|>' }] } },
  {
    url: '/v1/chat/completions',
    body: {
      model: 'gpt-3.5-turbo',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'two parts' }] },
      ],
    },
  },
  { url: '/v1/embeddings', body: { model: 'qwen-plus', input: ['one input', 'and another one'] } },
  { url: '/v1/responses', body: { model: 'gpt-4o', input: 'A responses input.', instructions: 'Answer in French.' } },
].map((l, i) => ({ custom_id: `r${i}`, method: 'POST', ...l }));

function chunked(bytes: Buffer, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return Readable.from(chunks);
}

describe(TokenCounter.name, () => {
  const sut = new TokenCounter();
  afterAll(() => sut.onModuleDestroy());

  const expected = LINES.reduce((n, l) => n + requestInputTokens(l.url, l.body, ENCODINGS[l.body.model]), 0);

  it.each([1, 3, 7, 64, 65536])('counts a file streamed in chunks of %i bytes like line by line, each line with its model encoding', async (size) => {
    const file = Buffer.from(LINES.map((l) => JSON.stringify(l)).join('\r\n') + '\n');
    await expect(sut.count(chunked(file, size))).resolves.toEqual({ tokens: expected, lines: LINES.length });
  });

  it('counts nothing for lines that are not requests, and a last line without a line break', async () => {
    const file = Buffer.from(['not json', '[1,2]', '{"custom_id":"x","body":{"messages":[]}}', '', JSON.stringify(LINES[0])].join('\n'));
    const first = requestInputTokens(LINES[0].url, LINES[0].body, ENCODINGS['gpt-4o']);
    await expect(sut.count(chunked(file, 5))).resolves.toEqual({ tokens: first, lines: 1 });
  });

  it('counts several files at once', async () => {
    const file = Buffer.from(LINES.map((l) => JSON.stringify(l)).join('\n'));
    const counts = await Promise.all([2, 5, 11, 13].map((size) => sut.count(chunked(file, size))));
    expect(counts.map((c) => c.tokens)).toEqual([expected, expected, expected, expected]);
  });
});
