import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { startGateway, Tenant, TestGateway } from './support/gateway';
import { ensurePythonSdk, runPython } from './support/python';
import { openaiProvider, RoutingFile, sku } from './support/routing';

/**
 * The oracle: the official `openai` Python SDK, a client this project did not write, driven through
 * files and batches by test/python/driver.py against a real gateway. The SDK validates every answer
 * against its own models, and each output body against its endpoint's model, so a field the spec
 * requires and the gateway leaves out fails here. Covered: every batch endpoint on the mock route,
 * retention parameters, list pagination, cancel mid-run (a slow upstream route), and the SDK's error
 * classes for the gateway's refusals. The driver prints what it saw as JSON; the assertions are here.
 */

jest.setTimeout(180_000);

const MOCK_MODEL = 'batch-test-model';
const SLOW_MODEL = 'slow-model';
const ENDPOINTS = ['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/completions', '/v1/moderations'] as const;
const THIRTY_DAYS = 2_592_000;
const CANCEL_LINES = 60;

/** The `object` of each endpoint's answer (a moderation result has none). */
const ANSWER_OBJECT: Record<(typeof ENDPOINTS)[number], string | null> = {
  '/v1/chat/completions': 'chat.completion',
  '/v1/responses': 'response',
  '/v1/embeddings': 'list',
  '/v1/completions': 'text_completion',
  '/v1/moderations': null,
};

/** The mock route on every endpoint, and SLOW_MODEL on a fake upstream that answers one line at a time per slot. */
function routing(upstreamUrl: string): RoutingFile {
  return {
    providers: [
      { id: 'mock', kind: 'mock', max_concurrency: 64 },
      openaiProvider('slow', upstreamUrl, { api_key_env: 'UPSTREAM_SLOW_KEY', max_concurrency: 2 }),
    ],
    skus: [sku(MOCK_MODEL, 'mock', 'mock-echo-1', { priority: 0, endpoints: [...ENDPOINTS] }), sku(SLOW_MODEL, 'slow', 'slow-upstream-model', { priority: 0 })],
  };
}

/** What the driver prints for a refusal: the SDK's exception class and the error fields it parsed. */
interface Refusal {
  class: string;
  status: number;
  code: string | null;
  param: string | null;
  type: string | null;
  message: string;
}

describe('the official openai Python SDK', () => {
  let gw: TestGateway;
  let upstream: FakeUpstream;
  let tenant: Tenant;

  beforeAll(async () => {
    await ensurePythonSdk();
    upstream = await startFakeUpstream();
    gw = await startGateway({ UPSTREAM_SLOW_KEY: 'sk-slow-upstream' }, routing(upstream.url));
  }, 300_000);
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });
  beforeEach(async () => {
    tenant = await gw.newTenant('python-sdk');
  });

  const driver = (scenario: string, ...args: string[]) =>
    runPython('driver.py', [scenario, ...args], { GATEWAY_URL: `${gw.url}/v1`, GATEWAY_API_KEY: tenant.apiKey, MOCK_MODEL, SLOW_MODEL });

  it.each(ENDPOINTS)('runs a %s batch to completed: every answer validates as the SDK model of its endpoint, usage parses as ints', async (endpoint) => {
    const r = await driver('endpoint', endpoint);

    expect(r.uploaded).toMatchObject({ id: expect.stringMatching(/^file-/), purpose: 'batch', status: 'processed' });
    expect(r.created).toMatchObject({ status: 'validating', endpoint, model: MOCK_MODEL, request_counts: { total: 3, completed: 0, failed: 0 } });
    expect(r.done).toMatchObject({
      status: 'completed',
      endpoint,
      model: MOCK_MODEL,
      request_counts: { total: 3, completed: 3, failed: 0 },
      output_file_id: expect.stringMatching(/^file-/),
      error_file_id: null,
    });
    expect(r.output_file).toMatchObject({ id: r.done.output_file_id, purpose: 'batch_output', status: 'processed' });
    expect(r.errors).toEqual([]);
    expect(r.output.map((line: { custom_id: string }) => line.custom_id)).toEqual(r.custom_ids);
    for (const line of r.output) {
      expect(line).toEqual({
        keys: ['custom_id', 'error', 'id', 'response'],
        id: expect.stringMatching(/^batch_req_/),
        custom_id: line.custom_id,
        status_code: 200,
        request_id: expect.stringMatching(/\S/),
        error: null,
        object: ANSWER_OBJECT[endpoint],
        model: expect.any(String),
        invalid: null,
      });
    }

    const usage = r.done.usage;
    expect(r.done.usage_types).toEqual({ input_tokens: 'int', output_tokens: 'int', total_tokens: 'int', cached_tokens: 'int', reasoning_tokens: 'int' });
    expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens);
    if (endpoint === '/v1/moderations') {
      expect(usage).toEqual({
        input_tokens: 0,
        output_tokens: 0,
        total_tokens: 0,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens_details: { reasoning_tokens: 0 },
      });
    } else {
      expect(usage.input_tokens).toBeGreaterThan(0);
    }
  });

  it('honours expires_after on uploads: the chosen lifetime, 30 days by default, BadRequestError naming the parameter outside 1 hour..30 days', async () => {
    const r = await driver('file-retention');

    expect(r.chosen.expires_at).toBe(r.chosen.created_at + 7200);
    expect(r.chosen_retrieved).toEqual(r.chosen);
    expect(r.default.expires_at).toBe(r.default.created_at + THIRTY_DAYS);
    for (const [name, refused] of [
      ['3599 s', r.too_short],
      ['2592001 s', r.too_long],
    ] as [string, Refusal][]) {
      expect({ name, refused }).toEqual({
        name,
        refused: expect.objectContaining({ class: 'BadRequestError', status: 400, code: expect.any(String), param: expect.stringMatching(/^expires_after\b/) }),
      });
    }
  });

  it("honours output_expires_after on batches: the output file's lifetime, 30 days by default, BadRequestError naming the parameter below 1 hour", async () => {
    const r = await driver('output-retention');

    expect(r.chosen_refused).toBeUndefined();
    expect(r.chosen).toMatchObject({ status: 'completed', output_file_id: expect.stringMatching(/^file-/) });
    expect(r.chosen_output.expires_at).toBe(r.chosen_output.created_at + 3600);
    expect(r.default).toMatchObject({ status: 'completed', output_file_id: expect.stringMatching(/^file-/) });
    expect(r.default_output.expires_at).toBe(r.default_output.created_at + THIRTY_DAYS);
    expect(r.too_short).toEqual(
      expect.objectContaining({ class: 'BadRequestError', status: 400, code: expect.any(String), param: expect.stringMatching(/^output_expires_after\b/) }),
    );
  });

  it('pages batches and files with the auto-paginating iterators: each once, newest first; an unknown purpose lists nothing', async () => {
    const r = await driver('pagination');
    const newestFirst = [...r.batch_ids].reverse();

    expect(r.first_page).toEqual({ ids: newestFirst.slice(0, 2), has_more: true });
    expect(r.batches_seen).toEqual(newestFirst);
    expect(r.batch_pages).toEqual([newestFirst.slice(0, 2), newestFirst.slice(2, 4), newestFirst.slice(4)]);

    const files: { id: string; purpose: string; created_at: number }[] = r.files_seen;
    const ids = files.map((f) => f.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual([...r.input_ids, ...r.output_ids].sort());
    const createdAt = files.map((f) => f.created_at);
    expect(createdAt).toEqual([...createdAt].sort((a, b) => b - a));
    expect(ids.filter((id) => r.input_ids.includes(id))).toEqual([...r.input_ids].reverse());
    expect(files.filter((f) => r.output_ids.includes(f.id)).every((f) => f.purpose === 'batch_output')).toBe(true);

    expect(r.batch_files_seen).toEqual([...r.input_ids].reverse());
    expect(r.batch_files_oldest_first).toEqual(r.input_ids);
    expect(r.fine_tune).toEqual({ ids: [], has_more: false });
  });

  it('cancels a running batch: cancel answers cancelling (again unchanged), it ends cancelled, counts add up, every line in one file', async () => {
    const r = await driver('cancel', String(CANCEL_LINES));

    expect(r.running.status).toBe('in_progress');
    expect(r.cancel).toMatchObject({ id: r.running.id, status: expect.stringMatching(/^cancell(ing|ed)$/), cancelling_at: expect.any(Number) });
    expect(r.cancel_again).toMatchObject({ id: r.running.id, status: expect.stringMatching(/^cancell(ing|ed)$/), cancelling_at: r.cancel.cancelling_at });
    expect(r.done).toMatchObject({ status: 'cancelled', cancelled_at: expect.any(Number) });

    const { total, completed, failed } = r.done.request_counts;
    expect(total).toBe(CANCEL_LINES);
    expect(completed + failed).toBe(total);
    expect(completed).toBeGreaterThanOrEqual(2);
    expect(failed).toBeGreaterThan(0);
    expect(r.output).toHaveLength(completed);
    for (const line of r.output) expect(line.status_code).toBe(200);
    expect(r.errors).toHaveLength(failed);
    for (const line of r.errors)
      expect(line).toEqual({ custom_id: line.custom_id, response: null, error: expect.objectContaining({ code: 'batch_cancelled' }) });
    const seen = [...r.output, ...r.errors].map((l: { custom_id: string }) => l.custom_id).sort();
    expect(seen).toEqual(Array.from({ length: CANCEL_LINES }, (_, i) => `slow-${i}`).sort());

    // the rerun extension through the SDK's generic post: the unrun lines, in a batch that names the original
    expect(r.rerun_metadata).toEqual({ rerun_of: r.running.id });
    expect(r.rerun_done).toMatchObject({ status: 'completed', request_counts: { total: failed, completed: failed, failed: 0 } });
    expect(r.rerun_output).toEqual(r.errors.map((l: { custom_id: string }) => l.custom_id));
  });

  it('raises the SDK error class of each refusal: NotFound, Authentication, BadRequest with the catalogue code, Conflict', async () => {
    const r = await driver('errors');

    expect(r.unknown_batch).toMatchObject({ class: 'NotFoundError', status: 404, code: 'not_found' });
    expect(r.unknown_file).toMatchObject({ class: 'NotFoundError', status: 404, code: 'not_found' });
    expect(r.bad_key).toMatchObject({ class: 'AuthenticationError', status: 401, code: 'invalid_api_key' });
    expect(r.not_json).toMatchObject({ class: 'BadRequestError', status: 400, code: 'batch_invalid_jsonl', message: expect.stringMatching(/\bline 2\b/i) });
    expect(r.url_mismatch).toMatchObject({ class: 'BadRequestError', status: 400, code: 'batch_invalid_jsonl', message: expect.stringMatching(/\bline 1\b/i) });
    expect(r.unknown_model).toMatchObject({ class: 'BadRequestError', status: 400, code: 'batch_model_not_supported' });
    expect(r.completed_status).toBe('completed');
    expect(r.cancel_completed).toMatchObject({ class: 'ConflictError', status: 409, code: 'batch_not_cancellable' });
    expect(r.rerun_completed).toMatchObject({ class: 'BadRequestError', status: 400, code: 'batch_nothing_to_rerun' });
  });
});
