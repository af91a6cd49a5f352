import { MAX_BODY_DEPTH, parseRequestLine } from './request-line';

const bytes = (text: string) => Buffer.from(text, 'utf8');
const MESSAGES = [{ role: 'user', content: 'hi' }];
const request = (fields: Record<string, unknown> = {}, body: Record<string, unknown> = {}) =>
  JSON.stringify({ custom_id: 'r1', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: MESSAGES, ...body }, ...fields });

describe(parseRequestLine.name, () => {
  it('reads a valid line, with or without a byte-order mark or a trailing CR, to the same request', () => {
    const plain = parseRequestLine(bytes(request()));
    expect(plain).toEqual({ ok: true, customId: 'r1', model: 'm', url: '/v1/chat/completions', body: { model: 'm', messages: MESSAGES }, problems: [] });
    expect(parseRequestLine(bytes('\uFEFF' + request()))).toEqual(plain);
    expect(parseRequestLine(bytes(request() + '\r'))).toEqual(plain);
  });

  it('calls a line that is not a JSON object malformed, with the code the upload is refused with', () => {
    expect(parseRequestLine(Buffer.from([0x7b, 0xff, 0x7d]))).toEqual({ ok: false, reason: 'is not valid UTF-8' });
    expect(parseRequestLine(bytes('{"custom_id":'))).toMatchObject({ ok: false, reason: expect.stringMatching(/^is not valid JSON/) });
    expect(parseRequestLine(bytes('[1,2]'))).toMatchObject({ ok: false, reason: expect.stringMatching(/^is not a JSON object/) });
    // A byte-order mark is ignored only at the start of a line.
    expect(parseRequestLine(bytes(request() + '\uFEFF'))).toMatchObject({ ok: false, reason: expect.stringMatching(/^is not valid JSON/) });
  });

  it.each([
    [{ custom_id: '' }, {}, 'custom_id must be a non-empty string'],
    [{ custom_id: 'x'.repeat(513) }, {}, 'custom_id must be at most 512 characters'],
    [{ custom_id: 'a\u0000b' }, {}, 'custom_id must not contain NUL characters'],
    [{ method: 'GET' }, {}, 'method must be "POST"'],
    [{ url: '/v1/files' }, {}, 'url must be one of /v1/chat/completions, /v1/responses, /v1/embeddings, /v1/completions, /v1/moderations'],
    [{ url: '/v1/embeddings' }, { input: undefined }, 'body.input is required for /v1/embeddings'],
    [{}, { messages: [] }, 'body.messages is required for /v1/chat/completions (a non-empty array)'],
    [{ url: '/v1/completions' }, {}, 'body.prompt is required for /v1/completions'],
    [{ url: '/v1/moderations' }, { input: '' }, 'body.input is required for /v1/moderations'],
    [{ body: [] }, {}, 'body must be a JSON object'],
    [{}, { model: '' }, 'body.model must be a non-empty string'],
    [{}, { model: 'm'.repeat(257) }, 'body.model must be at most 256 characters'],
    [{}, { model: 'm\u0000' }, 'body.model must not contain NUL characters'],
    [{}, { stream: true }, 'body.stream is not supported in a batch (each answer is stored whole)'],
    [
      {},
      { deep: JSON.parse('['.repeat(MAX_BODY_DEPTH) + ']'.repeat(MAX_BODY_DEPTH)) },
      `body must not nest objects and arrays more than ${MAX_BODY_DEPTH} levels deep`,
    ],
  ])('reports the field problem of %j %j, and gives no body to run', (fields, body, problem) => {
    const parsed = parseRequestLine(bytes(request(fields, body)));
    expect(parsed).toMatchObject({ ok: true, body: null, problems: [problem] });
  });

  it.each([
    ['/v1/responses', { input: 'Hello' }],
    ['/v1/embeddings', { input: ['a', 'b'] }],
    ['/v1/completions', { prompt: 'Once upon' }],
    ['/v1/moderations', { input: 'some text' }],
  ])('reads a line for %s with its required field', (url, body) => {
    expect(parseRequestLine(bytes(request({ url }, body)))).toMatchObject({ ok: true, url, problems: [] });
  });

  it('accepts stream: false and a body nested exactly to the limit', () => {
    const deep = JSON.parse('['.repeat(MAX_BODY_DEPTH - 1) + ']'.repeat(MAX_BODY_DEPTH - 1));
    expect(parseRequestLine(bytes(request({}, { stream: false, deep })))).toMatchObject({ ok: true, problems: [] });
  });

  it('checks a hostile depth without overflowing the stack', () => {
    const depth = 200_000;
    const parsed = parseRequestLine(bytes(request({}, { deep: 0 }).replace('"deep":0', `"deep":${'['.repeat(depth)}${']'.repeat(depth)}`)));
    expect(parsed).toMatchObject({ ok: true, problems: [`body must not nest objects and arrays more than ${MAX_BODY_DEPTH} levels deep`] });
  });
});
