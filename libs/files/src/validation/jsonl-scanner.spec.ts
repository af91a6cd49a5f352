import { ApiError } from '@app/core';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { JsonlScanner, LineIndexEntry } from './jsonl-scanner';

const line = (customId: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'm1', messages: [{ role: 'user', content: 'hi' }] },
    ...extra,
  });

async function scan(input: Buffer | string, limits = { maxLines: 100, maxLineBytes: 1000 }, chunkSize = 7) {
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const scanner = new JsonlScanner(limits);
  const passed: Buffer[] = [];
  const index: string[] = [];
  scanner.index.on('data', (c: Buffer) => index.push(c.toString()));
  scanner.on('data', (c: Buffer) => passed.push(c));
  await pipeline(Readable.from(chunks), scanner);
  const entries = index
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LineIndexEntry);
  return { summary: scanner.summary(), passed: Buffer.concat(passed), entries };
}

async function rejection(input: Buffer | string, limits?: { maxLines: number; maxLineBytes: number }): Promise<ApiError> {
  try {
    await scan(input, limits);
  } catch (err) {
    return err as ApiError;
  }
  throw new Error('expected the scan to fail');
}

describe(JsonlScanner.name, () => {
  it('passes the bytes through unchanged and indexes every line by offset, length and custom_id', async () => {
    const text = `${line('a')}\r\n${line('b')}\n${line('c')}`;
    const { summary, passed, entries } = await scan(text);
    expect(passed.toString()).toBe(text);
    expect(summary).toEqual({ lineCount: 3, models: ['m1'], endpoints: [{ url: '/v1/chat/completions', line: 1 }], errors: [], errorCount: 0 });
    expect(entries.map((e) => e[2])).toEqual(['a', 'b', 'c']);
    for (const [offset, length, customId] of entries) {
      expect(
        JSON.parse(
          Buffer.from(text)
            .subarray(offset, offset + length)
            .toString(),
        ).custom_id,
      ).toBe(customId);
    }
  });

  it('accepts a blank last line but refuses a blank line in the middle', async () => {
    expect((await scan(`${line('a')}\n\n`)).summary.lineCount).toBe(1);
    const err = await rejection(`${line('a')}\n\n${line('b')}\n`);
    expect([err.code, err.message]).toEqual(['batch_invalid_jsonl', 'Line 2 is empty; only the last line may be blank']);
  });

  it('names the line that is not JSON or not an object', async () => {
    expect((await rejection(`${line('a')}\nnot json\n`)).message).toMatch(/^Line 2 is not valid JSON/);
    expect((await rejection(`${line('a')}\n${line('b')}\n[1,2]\n`)).message).toMatch(/^Line 3 is not a JSON object/);
  });

  it('refuses invalid UTF-8, even when a multi-byte character is split across chunks', async () => {
    const good = Buffer.from(`${line('é-ü-😀')}\n`);
    expect((await scan(good, undefined, 3)).summary.lineCount).toBe(1);
    const bad = Buffer.concat([Buffer.from(line('a')), Buffer.from('\n{"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]);
    const err = await rejection(bad);
    expect([err.code, err.message]).toEqual(['batch_invalid_jsonl', 'Line 2 is not valid UTF-8']);
  });

  it('enforces the line length and line count limits', async () => {
    expect((await rejection(`${line('a')}\n${line('b', { pad: 'x'.repeat(200) })}\n`, { maxLines: 10, maxLineBytes: 150 })).code).toBe('batch_invalid_jsonl');
    expect((await rejection(`${line('a')}\n${line('b')}\n${line('c')}\n`, { maxLines: 2, maxLineBytes: 1000 })).code).toBe('too_many_lines');
    expect((await rejection('\n')).code).toBe('batch_invalid_jsonl');
  });

  it('keeps request-field problems with their line numbers instead of refusing the file', async () => {
    const text = [line('a'), line('a'), line(7), line('d', { method: 'GET' }), line('e', { url: '/v1/files' }), line('f', { body: { messages: [] } })].join(
      '\n',
    );
    const { summary } = await scan(text);
    expect(summary.lineCount).toBe(6);
    expect(summary.errors.map((e) => e.message)).toEqual([
      "Line 2: custom_id 'a' is a duplicate of line 1",
      'Line 3: custom_id must be a non-empty string',
      'Line 4: method must be "POST"',
      'Line 5: url must be one of /v1/chat/completions, /v1/responses, /v1/embeddings, /v1/completions, /v1/moderations',
      'Line 6: body.model must be a non-empty string',
      'Line 6: body.messages is required for /v1/chat/completions (a non-empty array)',
    ]);
  });

  it('collects the distinct models', async () => {
    const { summary } = await scan([line('a'), line('b', { body: { model: 'm2', messages: [{ role: 'user', content: 'x' }] } }), line('c')].join('\n'));
    expect(summary.models.sort()).toEqual(['m1', 'm2']);
  });

  it('collects each endpoint the lines name with the first line naming it', async () => {
    const embedding = { url: '/v1/embeddings', body: { model: 'm1', input: 'x' } };
    const { summary } = await scan([line('a'), line('b', embedding), line('c'), line('d', embedding)].join('\n'));
    expect(summary.endpoints).toEqual([
      { url: '/v1/chat/completions', line: 1 },
      { url: '/v1/embeddings', line: 2 },
    ]);
    expect(summary.errors).toEqual([]);
  });
});
