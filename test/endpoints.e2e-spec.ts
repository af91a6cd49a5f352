import OpenAI from 'openai';
import { FakeUpstream, fakeRouting, startFakeUpstream } from './support/fake-upstream';
import { startGateway, Tenant, TestGateway } from './support/gateway';
import { jsonl } from './support/jsonl';
import { results, sdkBatch, untilFinished } from './support/sdk';

/**
 * Every OpenAI batch endpoint end to end: on the built-in mock route (which serves batch-test-model on
 * all five) and on a real OpenAI-compatible upstream, where each line goes to the batch's endpoint under
 * the provider's base_url; the batch's usage is summed from each endpoint's own usage fields. And the
 * rules around them: every line names the batch's endpoint, and routing picks a SKU serving it.
 */

const ENDPOINTS = ['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/completions', '/v1/moderations'] as const;
type Endpoint = (typeof ENDPOINTS)[number];
const FAKE_MODEL = 'fake-all-endpoints';
const CHAT_ONLY_MODEL = 'fake-chat-only';

/** A request body for the endpoint carrying `text`. */
function bodyFor(endpoint: Endpoint, model: string, text: string): Record<string, unknown> {
  switch (endpoint) {
    case '/v1/chat/completions':
      return { model, messages: [{ role: 'user', content: text }] };
    case '/v1/completions':
      return { model, prompt: text };
    default:
      return { model, input: text };
  }
}

function requestFile(endpoint: Endpoint, model: string, count: number): { content: string; customIds: string[] } {
  const customIds = Array.from({ length: count }, (_, i) => `${endpoint.slice(4)}-${i}`);
  return {
    customIds,
    content: jsonl(customIds.map((id, i) => ({ custom_id: id, method: 'POST', url: endpoint, body: bodyFor(endpoint, model, `text number ${i}`) }))),
  };
}

async function run(tenant: Tenant, endpoint: Endpoint, content: string): Promise<{ batch: OpenAI.Batch; output: any[]; errors: any[] }> {
  const batch = await untilFinished(tenant, (await sdkBatch(tenant, content, { endpoint })).id);
  return { batch, ...(await results(tenant, batch)) };
}

/** What a successful answer of each endpoint looks like (the parts a client reads). */
const SHAPES: Record<Endpoint, (body: any) => void> = {
  '/v1/chat/completions': (body) => {
    expect(body).toMatchObject({
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: expect.any(String), refusal: null } }],
    });
  },
  '/v1/responses': (body) => {
    expect(body).toMatchObject({
      object: 'response',
      status: 'completed',
      output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: expect.any(String) }] }],
    });
  },
  '/v1/embeddings': (body) => {
    expect(body).toMatchObject({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: expect.any(Array) }] });
    expect(body.data[0].embedding.every((x: unknown) => typeof x === 'number')).toBe(true);
  },
  '/v1/completions': (body) => {
    expect(body).toMatchObject({ object: 'text_completion', choices: [{ index: 0, text: expect.any(String), finish_reason: 'stop' }] });
  },
  '/v1/moderations': (body) => {
    expect(body).toMatchObject({ id: expect.any(String), results: [{ flagged: false, categories: expect.any(Object), category_scores: expect.any(Object) }] });
  },
};

describe('Batch endpoints', () => {
  let gw: TestGateway;
  let upstream: FakeUpstream;
  let tenant: Tenant;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    const { providers, skus } = fakeRouting(upstream.url, { model: FAKE_MODEL, endpoints: [...ENDPOINTS] });
    // The built-in mock route beside it (a routing file replaces the default seed), and a SKU on the fake
    // provider that serves chat completions only (the default).
    gw = await startGateway(
      { UPSTREAM_FAKE_KEY: 'fake-key' },
      {
        providers: [...providers, { id: 'mock', kind: 'mock' }],
        skus: [
          ...skus,
          { id: 'batch-test-model@mock', model: 'batch-test-model', provider: 'mock', upstream_model: 'mock-echo-1', endpoints: [...ENDPOINTS] },
          { id: `${CHAT_ONLY_MODEL}@fake`, model: CHAT_ONLY_MODEL, provider: 'fake', upstream_model: 'chat-only-upstream' },
        ],
      },
    );
    tenant = await gw.newTenant('endpoints');
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  describe.each(ENDPOINTS)('%s', (endpoint) => {
    it('runs on the built-in mock route: every line answered with a valid object of the endpoint, usage summed from its own fields', async () => {
      const { content, customIds } = requestFile(endpoint, 'batch-test-model', 3);
      const { batch, output, errors } = await run(tenant, endpoint, content);
      expect(batch).toMatchObject({ status: 'completed', endpoint, model: 'batch-test-model', request_counts: { total: 3, completed: 3, failed: 0 } });
      expect(errors).toEqual([]);
      expect(output.map((l) => l.custom_id)).toEqual(customIds);
      for (const line of output) {
        expect(line).toMatchObject({ response: { status_code: 200 }, error: null });
        SHAPES[endpoint](line.response.body);
      }
      if (endpoint === '/v1/moderations') {
        expect(batch.usage).toMatchObject({ input_tokens: 0, output_tokens: 0, total_tokens: 0 });
      } else {
        expect(batch.usage!.input_tokens).toBeGreaterThan(0);
        expect(batch.usage!.total_tokens).toBe(batch.usage!.input_tokens + batch.usage!.output_tokens);
      }
      // The mock is deterministic: the same request twice gets the same answer.
      const again = await run(tenant, endpoint, content);
      expect(again.output.map((l) => l.response.body)).toEqual(output.map((l) => l.response.body));
    });

    it("sends every line to the endpoint's path under the provider's base_url, and sums that endpoint's usage with its details", async () => {
      const path = endpoint;
      const before = upstream.paths.get(path) ?? 0;
      const { content, customIds } = requestFile(endpoint, FAKE_MODEL, 4);
      const { batch, output } = await run(tenant, endpoint, content);
      expect(batch).toMatchObject({ status: 'completed', model: FAKE_MODEL, request_counts: { total: 4, completed: 4, failed: 0 } });
      expect(output.map((l) => l.custom_id)).toEqual(customIds);
      expect((upstream.paths.get(path) ?? 0) - before).toBe(4);
      // The fake's usage per answer: chat 10/5 with 2 cached and 1 reasoning; responses 10/5 with 3 and 2;
      // completions 10/5; embeddings 4 prompt tokens; moderations none.
      const perLine: Record<Endpoint, [number, number, number, number]> = {
        '/v1/chat/completions': [10, 5, 2, 1],
        '/v1/responses': [10, 5, 3, 2],
        '/v1/completions': [10, 5, 0, 0],
        '/v1/embeddings': [4, 0, 0, 0],
        '/v1/moderations': [0, 0, 0, 0],
      };
      const [input, outputTokens, cached, reasoning] = perLine[endpoint];
      expect(batch.usage).toEqual({
        input_tokens: 4 * input,
        output_tokens: 4 * outputTokens,
        total_tokens: 4 * (input + outputTokens),
        input_tokens_details: { cached_tokens: 4 * cached },
        output_tokens_details: { reasoning_tokens: 4 * reasoning },
      });
    });
  });

  it("refuses a file whose lines name another endpoint than the batch's, naming the first such line", async () => {
    const chat = requestFile('/v1/chat/completions', 'batch-test-model', 2);
    const refusal = await sdkBatch(tenant, chat.content, { endpoint: '/v1/embeddings' }, 'chat.jsonl').catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refusal).toMatchObject({ status: 400, code: 'batch_invalid_jsonl', param: 'input_file_id' });
    expect((refusal as Error).message).toMatch(/Line 1: url '\/v1\/chat\/completions' does not match the batch's endpoint '\/v1\/embeddings'/);

    const mixed = jsonl([
      ...JSON.parse(`[${chat.content.trim().split('\n').join(',')}]`),
      { custom_id: 'emb', method: 'POST', url: '/v1/embeddings', body: { model: 'batch-test-model', input: 'x' } },
    ]);
    const mixedRefusal = await sdkBatch(tenant, mixed, {}, 'mixed.jsonl').catch((e: unknown) => e);
    expect(mixedRefusal).toMatchObject({ status: 400, code: 'batch_invalid_jsonl' });
    expect((mixedRefusal as Error).message).toMatch(/Line 3: url '\/v1\/embeddings'/);
  });

  it('answers batch_model_not_supported when no SKU of the model serves the endpoint, and runs it on the endpoint it serves', async () => {
    const embeddings = requestFile('/v1/embeddings', CHAT_ONLY_MODEL, 1);
    const refusal = await sdkBatch(tenant, embeddings.content, { endpoint: '/v1/embeddings' }, 'emb.jsonl').catch((e: unknown) => e);
    expect(refusal).toMatchObject({ status: 400, code: 'batch_model_not_supported' });
    expect((refusal as Error).message).toMatch(/fake-chat-only.*on \/v1\/embeddings/);

    const chat = requestFile('/v1/chat/completions', CHAT_ONLY_MODEL, 1);
    const { batch } = await run(tenant, '/v1/chat/completions', chat.content);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { completed: 1 } });
  });

  it('refuses at create, with batch_invalid_jsonl naming the line, a line without the field its endpoint requires', async () => {
    const content = jsonl([
      { custom_id: 'ok', method: 'POST', url: '/v1/completions', body: { model: 'batch-test-model', prompt: 'fine' } },
      { custom_id: 'bad', method: 'POST', url: '/v1/completions', body: { model: 'batch-test-model', input: 'not a prompt' } },
    ]);
    const refusal = await sdkBatch(tenant, content, { endpoint: '/v1/completions' }, 'c.jsonl').catch((e: unknown) => e);
    expect(refusal).toMatchObject({ status: 400, code: 'batch_invalid_jsonl' });
    expect((refusal as Error).message).toMatch(/Line 2: body\.prompt is required for \/v1\/completions/);
  });
});
