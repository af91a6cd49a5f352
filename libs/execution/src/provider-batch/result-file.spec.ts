import { Readable } from 'node:stream';
import type { FinishedRow } from '../request-rows.service';
import { recordResultFile } from './result-file';

function file(lines: unknown[]): Readable {
  return Readable.from([lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n']);
}

async function read(lines: unknown[], pending: Record<string, number[]>) {
  const recorded: FinishedRow[] = [];
  const map = new Map(Object.entries(pending).map(([k, v]) => [k, [...v]]));
  const counts = await recordResultFile(file(lines), map, async (rows) => void recorded.push(...rows));
  return { recorded: new Map(recorded.map((r) => [r.line, r.outcome])), counts };
}

describe('recordResultFile', () => {
  it('maps results to our lines by custom_id, whatever their order, reading answers as realtime answers', async () => {
    const { recorded, counts } = await read(
      [
        { id: 'r2', custom_id: 'b', response: { status_code: 400, request_id: 'q2', body: { error: { message: 'bad temperature' } } }, error: null },
        {
          id: 'r1',
          custom_id: 'a',
          response: { status_code: 200, request_id: 'q1', body: { usage: { prompt_tokens: 7, completion_tokens: 3 } } },
          error: null,
        },
      ],
      { a: [1], b: [2] },
    );
    expect(counts).toEqual({ matched: 2, unmatched: 0 });
    expect(recorded.get(1)).toMatchObject({
      ok: true,
      statusCode: 200,
      requestId: 'q1',
      promptTokens: 7,
      completionTokens: 3,
      attempts: 1,
      latencyMs: null,
      error: null,
    });
    expect(JSON.parse(recorded.get(1)!.body!)).toEqual({ usage: { prompt_tokens: 7, completion_tokens: 3 } });
    expect(recorded.get(2)).toMatchObject({
      ok: false,
      statusCode: 400,
      error: { code: 'upstream_client_error', message: 'Upstream answered HTTP 400: bad temperature' },
    });
  });

  it("keeps the provider's code and message for a line with only an error, and refuses codes that are not plain names", async () => {
    const { recorded } = await read(
      [
        {
          custom_id: 'a',
          response: null,
          error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' },
        },
        { custom_id: 'b', response: null, error: { code: 'bad code <script>', message: 'x' } },
        { custom_id: 'c', response: null, error: null },
      ],
      { a: [1], b: [2], c: [3] },
    );
    expect(recorded.get(1)).toMatchObject({
      ok: false,
      statusCode: null,
      body: null,
      error: { code: 'batch_expired', message: expect.stringContaining('completion window') },
    });
    expect(recorded.get(2)!.error!.code).toBe('upstream_batch_failed');
    expect(recorded.get(3)!.error).toEqual({ code: 'upstream_batch_failed', message: 'The provider reported this request as failed' });
  });

  it('skips lines that are not JSON, name no pending line, or repeat a custom_id already answered', async () => {
    const { recorded, counts } = await read(
      [
        'not json',
        { custom_id: 'zzz', response: { status_code: 200, body: {} } },
        { custom_id: 'a', response: { status_code: 200, body: { n: 1 } } },
        { custom_id: 'a', response: { status_code: 200, body: { n: 2 } } },
        '',
      ],
      { a: [4] },
    );
    expect(counts).toEqual({ matched: 1, unmatched: 3 });
    expect([...recorded.keys()]).toEqual([4]);
    expect(JSON.parse(recorded.get(4)!.body!)).toEqual({ n: 1 });
  });

  it('gives repeated custom_ids of ours their results in line order', async () => {
    const { recorded } = await read(
      [
        { custom_id: 'dup', response: { status_code: 200, body: { n: 1 } } },
        { custom_id: 'dup', response: { status_code: 200, body: { n: 2 } } },
      ],
      { dup: [3, 9] },
    );
    expect(JSON.parse(recorded.get(3)!.body!)).toEqual({ n: 1 });
    expect(JSON.parse(recorded.get(9)!.body!)).toEqual({ n: 2 });
  });

  it('records in pages, so a large file is never held whole', async () => {
    const pages: number[] = [];
    const lines = Array.from({ length: 1201 }, (_, i) => ({ custom_id: `c${i}`, response: { status_code: 200, body: {} } }));
    const pending = new Map(lines.map((l, i) => [l.custom_id, [i + 1]]));
    await recordResultFile(file(lines), pending, async (rows) => void pages.push(rows.length));
    expect(pages).toEqual([500, 500, 201]);
  });
});
