import { BatchesService } from '@app/batches';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { adminClient } from './support/admin-client';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { backdated } from './support/gateway-clock';
import { startGateway, Tenant, TestGateway } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { rest, ResultLine } from './support/rest-client';
import { openaiProvider, RoutingFile, sku } from './support/routing';
import {
  expectEveryLineOnce,
  expectRefused,
  fileLines,
  PREFIXES,
  results,
  sdkBatch,
  sdkUpload,
  TERMINAL,
  untilBatch,
  untilFinished,
  unwrap,
} from './support/sdk';

/**
 * Batches, routing and execution end to end, through the official SDK and plain HTTP under both
 * envelopes: the whole flow on the built-in mock and on a real OpenAI-compatible upstream, what each
 * upstream behaviour makes of a line, every refusal at create, listing and tenant isolation, the
 * routing lock, cancel mid-batch and expiry. Whatever happens, every input line ends in exactly one
 * of the output and error files.
 */

jest.setTimeout(120_000);

const MOCK_MODEL = 'batch-test-model';
const FAKE_MODEL = 'fake-model';
const FAKE_UPSTREAM_MODEL = 'fake-upstream-model';
const DORMANT_MODEL = 'dormant-model';
const DEAD_MODEL = 'dead-model';
const LOCKED_MODEL = 'locked-model';
const LOCKED_UPSTREAM_MODEL = 'locked-upstream-model';
const SPARE_UPSTREAM_MODEL = 'spare-upstream-model';
const UPSTREAM_KEY = 'sk-upstream-secret';
const DAY = 86_400;

// ---- factories and small clients ----

const tag = () => randomBytes(4).toString('hex');

/** Request lines whose last message is each given content (markers in it steer the fake upstream). */
function linesWith(model: string, contents: string[], prefix = 'line'): { customIds: string[]; file: string } {
  const lines = contents.map((content, i) => ({ ...requestLine(i, model, { messages: [{ role: 'user', content }] }), custom_id: `${prefix}-${i}` }));
  return { customIds: lines.map((l) => l.custom_id), file: jsonl(lines) };
}

const upload = async (tenant: Tenant, content: string) => (await sdkUpload(tenant, content)).id;

function expectSuccessLine(line: ResultLine): void {
  expect(line).toEqual({
    id: expect.stringMatching(/^batch_req_/),
    custom_id: expect.any(String),
    response: { status_code: 200, request_id: expect.stringMatching(/\S/), body: expect.objectContaining({ object: 'chat.completion' }) },
    error: null,
  });
}

/** Timestamps of a completed batch: all set, in order, and nothing of the other endings. */
function expectCompletedTimeline(batch: OpenAI.Batch): void {
  for (const at of ['created_at', 'in_progress_at', 'finalizing_at', 'completed_at', 'expires_at'] as const) {
    expect({ at, value: batch[at] }).toEqual({ at, value: expect.any(Number) });
  }
  expect(batch.expires_at).toBe(batch.created_at + DAY);
  expect(batch.created_at).toBeLessThanOrEqual(batch.in_progress_at!);
  expect(batch.in_progress_at!).toBeLessThanOrEqual(batch.finalizing_at!);
  expect(batch.finalizing_at!).toBeLessThanOrEqual(batch.completed_at!);
  expect(batch).toMatchObject({ failed_at: null, expired_at: null, cancelling_at: null, cancelled_at: null });
  expect(Math.abs(batch.created_at - Date.now() / 1000)).toBeLessThan(120);
}

function sumUsage(output: ResultLine[]) {
  return output.reduce(
    (s, l) => ({
      input_tokens: s.input_tokens + l.response!.body.usage.prompt_tokens,
      output_tokens: s.output_tokens + l.response!.body.usage.completion_tokens,
      total_tokens: s.total_tokens + l.response!.body.usage.total_tokens,
    }),
    { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
  );
}

/** One routing file for the upstream suites: the fake upstream, a dormant SKU, a dead provider, and a spare mock. */
function routing(upstreamUrl: string, maxConcurrency: number): RoutingFile {
  return {
    providers: [
      openaiProvider('fake', upstreamUrl, { api_key_env: 'UPSTREAM_FAKE_KEY', max_concurrency: maxConcurrency }),
      openaiProvider('dead', 'http://127.0.0.1:1/v1', { max_concurrency: 4 }),
      { id: 'spare', kind: 'mock', max_concurrency: 16 },
    ],
    skus: [
      sku(FAKE_MODEL, 'fake', FAKE_UPSTREAM_MODEL, { priority: 10 }),
      sku(DORMANT_MODEL, 'fake', FAKE_UPSTREAM_MODEL, { active: false, priority: 10 }),
      sku(DEAD_MODEL, 'dead', 'dead-upstream-model', { priority: 10 }),
      sku(LOCKED_MODEL, 'fake', LOCKED_UPSTREAM_MODEL, { priority: 10 }),
    ],
  };
}

interface Rig {
  gw: TestGateway;
  upstream: FakeUpstream;
}

async function startRig(opts: { latencyMs: number; maxConcurrency: number; env: Record<string, string> }): Promise<Rig> {
  const upstream = await startFakeUpstream({ latencyMs: opts.latencyMs });
  try {
    const gw = await startGateway(
      { UPSTREAM_FAKE_KEY: UPSTREAM_KEY, UPSTREAM_TIMEOUT_MS: '500', UPSTREAM_MAX_ATTEMPTS: '4', ...opts.env },
      routing(upstream.url, opts.maxConcurrency),
    );
    return { gw, upstream };
  } catch (err) {
    await upstream.close();
    throw err;
  }
}

async function stopRig(rig: Rig | undefined): Promise<void> {
  if (!rig) return;
  await rig.gw.close();
  await rig.upstream.close();
}

describe(BatchesService.name, () => {
  describe('on the embedded defaults (built-in mock route, HTTPS-only callback_url)', () => {
    let gw: TestGateway;
    let tenant: Tenant;

    beforeAll(async () => {
      gw = await startGateway({ WEBHOOK_ALLOW_HTTP: 'false' });
    });
    afterAll(() => gw?.close());
    beforeEach(async () => {
      tenant = await gw.newTenant('mock-route');
    });

    it('runs the SDK flow to completed: every line answered once, counts, usage and timestamps right', async () => {
      const t = tag();
      const { customIds, file } = linesWith(
        MOCK_MODEL,
        Array.from({ length: 7 }, (_, i) => `mock ${t} question ${i}`),
      );
      const metadata = { project: 'e2e', run: t };
      const created = await sdkBatch(tenant, file, { metadata });
      expect(created).toEqual(
        expect.objectContaining({
          id: expect.stringMatching(/^batch_/),
          object: 'batch',
          endpoint: '/v1/chat/completions',
          model: MOCK_MODEL,
          input_file_id: expect.stringMatching(/^file-/),
          completion_window: '24h',
          status: 'validating',
          output_file_id: null,
          error_file_id: null,
          in_progress_at: null,
          completed_at: null,
          expires_at: created.created_at + DAY,
          request_counts: { total: 7, completed: 0, failed: 0 },
          metadata,
          errors: null,
          callback_url: null,
        }),
      );

      const batch = await untilFinished(tenant, created.id);
      expect(batch).toMatchObject({
        id: created.id,
        status: 'completed',
        model: MOCK_MODEL,
        input_file_id: created.input_file_id,
        output_file_id: expect.stringMatching(/^file-/),
        error_file_id: null,
        request_counts: { total: 7, completed: 7, failed: 0 },
        metadata,
        created_at: created.created_at,
        errors: null,
      });
      expectCompletedTimeline(batch);

      // the DashScope-style envelope carries the very same object
      const enveloped = unwrap(await rest(gw, tenant.apiKey, 'GET', `/api/v1/batches/${batch.id}`), '/api/v1');
      expect(enveloped).toEqual(JSON.parse(JSON.stringify(batch)));

      const outputFile = await tenant.openai.files.retrieve(batch.output_file_id!);
      expect(outputFile).toMatchObject({ id: batch.output_file_id, object: 'file', purpose: 'batch_output' });
      const { output, errors } = await results(tenant, batch);
      expect(errors).toEqual([]);
      expectEveryLineOnce(customIds, output, errors);
      output.forEach(expectSuccessLine);
      // each answer belongs to its own line
      for (const line of output) {
        const i = customIds.indexOf(line.custom_id);
        expect(line.response!.body.choices[0].message.content).toContain(`mock ${t} question ${i}`);
        expect(line.response!.request_id).toMatch(/^req_mock_/);
      }
      const usage = sumUsage(output);
      expect(usage.total_tokens).toBeGreaterThan(0);
      expect(batch.usage).toMatchObject(usage);
    });

    it('lists newest first, pages with limit and after under both envelopes, and the SDK pages through all', async () => {
      const made: string[] = [];
      for (let i = 0; i < 3; i++) made.push((await sdkBatch(tenant, linesWith(MOCK_MODEL, [`list ${i}`]).file)).id);
      const [first, second, third] = made;

      for (const prefix of PREFIXES) {
        const page1 = unwrap(await rest(gw, tenant.apiKey, 'GET', `${prefix}/batches?limit=2`), prefix);
        expect(page1).toEqual({
          object: 'list',
          data: [expect.objectContaining({ id: third, object: 'batch' }), expect.objectContaining({ id: second })],
          first_id: third,
          last_id: second,
          has_more: true,
        });
        const page2 = unwrap(await rest(gw, tenant.apiKey, 'GET', `${prefix}/batches?limit=2&after=${second}`), prefix);
        expect(page2).toEqual({ object: 'list', data: [expect.objectContaining({ id: first })], first_id: first, last_id: first, has_more: false });
        const whole = unwrap(await rest(gw, tenant.apiKey, 'GET', `${prefix}/batches`), prefix);
        expect(whole).toMatchObject({ first_id: third, last_id: first, has_more: false });
        expect(whole.data.map((b: any) => b.id)).toEqual([third, second, first]);
      }

      const seen: string[] = [];
      for await (const b of tenant.openai.batches.list({ limit: 2 })) seen.push(b.id);
      expect(seen).toEqual([third, second, first]);

      const tooSmall = await expectRefused(gw, tenant.apiKey, 'GET', '/batches?limit=0', undefined, 400, 'invalid_request_error');
      expect(tooSmall.param).toBe('limit');
      await expectRefused(gw, tenant.apiKey, 'GET', '/batches?limit=101', undefined, 400, 'invalid_request_error');
      for (const id of made) expect((await untilFinished(tenant, id)).status).toBe('completed');
    });

    it('retrieves a batch exactly as the list shows it, as plain JSON with its request id, under both envelopes (GET and HEAD)', async () => {
      const metadata = { purpose: 'read-path', run: tag() };
      const created = await sdkBatch(tenant, linesWith(MOCK_MODEL, ['one', 'two', 'three']).file, { metadata });
      const done = await untilFinished(tenant, created.id);
      expect(done).toMatchObject({ status: 'completed', metadata, request_counts: { total: 3, completed: 3, failed: 0 } });
      expect(done.usage!.total_tokens).toBeGreaterThan(0);

      for (const prefix of PREFIXES) {
        const url = `${gw.url}${prefix}/batches/${created.id}`;
        const auth = { authorization: `Bearer ${tenant.apiKey}` };
        const res = await fetch(url, { headers: auth });
        const text = await res.text();
        expect({ prefix, status: res.status, type: res.headers.get('content-type') }).toEqual({ prefix, status: 200, type: 'application/json; charset=utf-8' });
        expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
        expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
        expect(res.headers.get('etag')).toBeNull();
        // the read by id and the list are two code paths over the same row: same object, JSON columns and bigint counters included
        const retrieved = unwrap({ status: res.status, body: JSON.parse(text) }, prefix);
        const listed = unwrap(await rest(gw, tenant.apiKey, 'GET', `${prefix}/batches?limit=100`), prefix).data.find((b: any) => b.id === created.id);
        expect(retrieved).toEqual(listed);
        expect(retrieved).toEqual(JSON.parse(JSON.stringify(done)));

        const head = await fetch(url, { method: 'HEAD', headers: auth });
        expect({ prefix, status: head.status, length: head.headers.get('content-length'), body: await head.text() }).toEqual({
          prefix,
          status: 200,
          length: res.headers.get('content-length'),
          body: '',
        });

        const given = await fetch(url, { headers: { ...auth, 'x-request-id': 'poller-7.retry_2' } });
        expect(given.headers.get('x-request-id')).toBe('poller-7.retry_2');
        const refused = await fetch(url, { headers: { ...auth, 'x-request-id': 'not an id; <script>' } });
        expect(refused.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
        await Promise.all([given.text(), refused.text()]);
      }
    });

    it("answers 404 not_found for another tenant's batch, to retrieve, cancel and page after, and leaves it alone", async () => {
      const stranger = await gw.newTenant('stranger');
      const mine = await sdkBatch(tenant, linesWith(MOCK_MODEL, ['isolated']).file);

      await expectRefused(gw, stranger.apiKey, 'GET', `/batches/${mine.id}`, undefined, 404, 'not_found');
      await expectRefused(gw, stranger.apiKey, 'POST', `/batches/${mine.id}/cancel`, undefined, 404, 'not_found');
      await expectRefused(gw, stranger.apiKey, 'GET', `/batches?after=${mine.id}`, undefined, 404, 'not_found');
      await expectRefused(gw, tenant.apiKey, 'GET', '/batches/batch_doesnotexist000000000', undefined, 404, 'not_found');
      for (const prefix of PREFIXES) {
        expect(unwrap(await rest(gw, stranger.apiKey, 'GET', `${prefix}/batches`), prefix)).toEqual({
          object: 'list',
          data: [],
          first_id: null,
          last_id: null,
          has_more: false,
        });
      }

      const done = await untilFinished(tenant, mine.id);
      expect(done).toMatchObject({ status: 'completed', cancelling_at: null, cancelled_at: null, request_counts: { total: 1, completed: 1, failed: 0 } });
    });

    it('refuses to cancel a completed batch with 409 batch_not_cancellable under both envelopes', async () => {
      const done = await untilFinished(tenant, (await sdkBatch(tenant, linesWith(MOCK_MODEL, ['a', 'b']).file)).id);
      expect(done.status).toBe('completed');
      await expectRefused(gw, tenant.apiKey, 'POST', `/batches/${done.id}/cancel`, undefined, 409, 'batch_not_cancellable');
      await expect(tenant.openai.batches.cancel(done.id)).rejects.toMatchObject({ status: 409, code: 'batch_not_cancellable' });
      expect(await tenant.openai.batches.retrieve(done.id)).toMatchObject({ status: 'completed', cancelling_at: null, cancelled_at: null });
    });

    it('takes only an absolute https callback_url without credentials when plain HTTP is not allowed', async () => {
      const input_file_id = await upload(tenant, linesWith(MOCK_MODEL, ['callback']).file);
      const body = (callback_url: string) => ({ input_file_id, endpoint: '/v1/chat/completions', completion_window: '24h', callback_url });
      for (const url of ['http://127.0.0.1:9/hook', 'not a url', 'ftp://127.0.0.1/hook', 'https://user:pw@127.0.0.1:9/hook']) {
        const error = await expectRefused(gw, tenant.apiKey, 'POST', '/batches', body(url), 400, 'invalid_request_error');
        expect({ url, param: error.param, type: error.type }).toEqual({ url, param: 'callback_url', type: 'invalid_request_error' });
      }
      expect((await tenant.openai.batches.list()).data).toEqual([]);

      const accepted = await tenant.openai.batches.create(body('https://127.0.0.1:9/hook') as OpenAI.BatchCreateParams);
      expect(accepted).toMatchObject({ status: 'validating', callback_url: 'https://127.0.0.1:9/hook' });
      expect((await untilFinished(tenant, accepted.id)).status).toBe('completed');
    });
  });

  describe('on a real OpenAI-compatible upstream', () => {
    let rig: Rig;
    let tenant: Tenant;

    beforeAll(async () => {
      rig = await startRig({ latencyMs: 0, maxConcurrency: 16, env: {} });
    });
    afterAll(() => stopRig(rig));
    beforeEach(async () => {
      tenant = await rig.gw.newTenant('upstream');
    });

    it("runs the SDK flow to completed with the provider's key and the SKU's upstream model, usage summed", async () => {
      const t = tag();
      const contents = Array.from({ length: 6 }, (_, i) => `sdk ${t} line ${i}`);
      const { customIds, file } = linesWith(FAKE_MODEL, contents);
      const created = await sdkBatch(tenant, file, { metadata: { suite: 'upstream' } });
      expect(created).toMatchObject({ status: 'validating', model: FAKE_MODEL, request_counts: { total: 6 }, expires_at: created.created_at + DAY });

      const batch = await untilFinished(tenant, created.id);
      expect(batch).toMatchObject({
        status: 'completed',
        model: FAKE_MODEL,
        error_file_id: null,
        request_counts: { total: 6, completed: 6, failed: 0 },
        usage: { input_tokens: 60, output_tokens: 30, total_tokens: 90 },
        metadata: { suite: 'upstream' },
      });
      expectCompletedTimeline(batch);

      const { output, errors } = await results(tenant, batch);
      expectEveryLineOnce(customIds, output, errors);
      output.forEach(expectSuccessLine);
      for (const line of output) {
        const i = customIds.indexOf(line.custom_id);
        expect(line.response!.request_id).toMatch(/^req_fake_\d+$/);
        expect(line.response!.body.model).toBe(FAKE_UPSTREAM_MODEL);
        expect(line.response!.body.choices[0].message.content).toBe(`echo: ${contents[i]}`);
        expect(line.response!.body.usage).toEqual({
          prompt_tokens: 10,
          completion_tokens: 5,
          total_tokens: 15,
          prompt_tokens_details: { cached_tokens: 2 },
          completion_tokens_details: { reasoning_tokens: 1 },
        });
      }
      expect(new Set(output.map((l) => l.response!.request_id)).size).toBe(6);
      expect(contents.map((c) => rig.upstream.attempts.get(c))).toEqual([1, 1, 1, 1, 1, 1]);
      expect([...rig.upstream.authorizations]).toEqual([`Bearer ${UPSTREAM_KEY}`]);
      expect(rig.upstream.models.has(FAKE_UPSTREAM_MODEL)).toBe(true);
      expect(rig.upstream.models.has(FAKE_MODEL)).toBe(false);
    });

    it('retries 5xx and 429 to success; a 400, a hang and endless 500s or 429s become error lines with their codes', async () => {
      const t = tag();
      const contents = {
        plain: `plain ${t}`,
        flaky: `flaky ${t} #status=500x2`,
        throttled: `throttled ${t} #status=429x1 #retry-after=1`,
        refused: `refused ${t} #status=400`,
        hang: `hang ${t} #hang`,
        broken: `broken ${t} #status=500`,
        swamped: `swamped ${t} #status=429`,
      };
      const keys = Object.keys(contents) as (keyof typeof contents)[];
      const { customIds, file } = linesWith(FAKE_MODEL, Object.values(contents));
      const idOf = (k: keyof typeof contents) => customIds[keys.indexOf(k)];

      const batch = await untilFinished(tenant, (await sdkBatch(tenant, file)).id);
      expect(batch).toMatchObject({
        status: 'completed',
        output_file_id: expect.stringMatching(/^file-/),
        error_file_id: expect.stringMatching(/^file-/),
        request_counts: { total: 7, completed: 3, failed: 4 },
        usage: { input_tokens: 30, output_tokens: 15, total_tokens: 45 },
      });

      const { output, errors } = await results(tenant, batch);
      expectEveryLineOnce(customIds, output, errors);
      expect(output.map((l) => l.custom_id)).toEqual([idOf('plain'), idOf('flaky'), idOf('throttled')]);
      output.forEach(expectSuccessLine);
      expect(errors.map((l) => l.custom_id)).toEqual([idOf('refused'), idOf('hang'), idOf('broken'), idOf('swamped')]);

      const errorOf = (k: keyof typeof contents) => errors.find((l) => l.custom_id === idOf(k))!;
      expect(errorOf('refused')).toEqual({
        id: expect.stringMatching(/^batch_req_/),
        custom_id: idOf('refused'),
        response: {
          status_code: 400,
          request_id: expect.stringMatching(/^req_fake_/),
          body: { error: { message: 'fake upstream says 400', type: 'fake_error', code: 'fake_400' } },
        },
        // As OpenAI's error files: a request that got an HTTP answer keeps it, and `error` is null.
        error: null,
      });
      expect(errorOf('hang')).toMatchObject({ response: null, error: { code: 'upstream_timeout', message: expect.any(String) } });
      expect(errorOf('broken')).toMatchObject({ response: { status_code: 500, body: { error: { code: 'fake_500' } } }, error: null });
      expect(errorOf('swamped')).toMatchObject({ response: { status_code: 429, body: { error: { code: 'fake_429' } } }, error: null });

      const attempts = Object.fromEntries(keys.map((k) => [k, rig.upstream.attempts.get(contents[k])]));
      expect(attempts).toEqual({ plain: 1, flaky: 3, throttled: 2, refused: 1, hang: 4, broken: 4, swamped: 4 });
    });

    it('waits as long as Retry-After asks before retrying a 429 (the configured backoff alone is 20 ms)', async () => {
      const t = tag();
      const content = `patient ${t} #status=429x1 #retry-after=1`;
      const started = Date.now();
      const batch = await untilFinished(tenant, (await sdkBatch(tenant, linesWith(FAKE_MODEL, [content]).file)).id);
      const elapsedMs = Date.now() - started;
      expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 1, completed: 1, failed: 0 } });
      expect(rig.upstream.attempts.get(content)).toBe(2);
      expect(elapsedMs).toBeGreaterThanOrEqual(1000);
    });

    it('completes a batch whose provider cannot be reached with only an error file of upstream_unreachable lines', async () => {
      const { customIds, file } = linesWith(DEAD_MODEL, ['nobody home 1', 'nobody home 2']);
      const batch = await untilFinished(tenant, (await sdkBatch(tenant, file)).id);
      expect(batch).toMatchObject({
        status: 'completed',
        model: DEAD_MODEL,
        output_file_id: null,
        error_file_id: expect.stringMatching(/^file-/),
        request_counts: { total: 2, completed: 0, failed: 2 },
        usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
      });
      const { output, errors } = await results(tenant, batch);
      expectEveryLineOnce(customIds, output, errors);
      for (const line of errors) expect(line).toMatchObject({ response: null, error: { code: 'upstream_unreachable', message: expect.any(String) } });
    });

    it('keeps the SKU a batch locked at create while routing changes under it; new batches take the new route', async () => {
      const admin = adminClient(rig.gw.url, rig.gw.adminToken);
      const t = tag();
      // 40 lines of 300 ms, sixteen at a time (the provider's max_concurrency): about 0.9 s, mostly sent after the change
      const contents = Array.from({ length: 40 }, (_, i) => `locked ${t} ${i} #latency=300`);
      const { customIds, file } = linesWith(LOCKED_MODEL, contents);
      const locked = await sdkBatch(tenant, file);
      expect(locked.model).toBe(LOCKED_MODEL);

      await admin.query('mutation($s: SkuUpsertInput!) { upsertSku(input: $s) { id } }', {
        s: {
          id: `${LOCKED_MODEL}@spare`,
          model: LOCKED_MODEL,
          providerId: 'spare',
          upstreamModel: SPARE_UPSTREAM_MODEL,
          batchCapable: true,
          active: true,
          priority: 100,
        },
      });
      await admin.query(`mutation { setSkuActive(id: "${LOCKED_MODEL}@fake", active: false) { id } }`);
      const sentBeforeChange = contents.filter((c) => rig.upstream.attempts.has(c)).length;
      expect(sentBeforeChange).toBeLessThan(contents.length / 2);
      expect(['validating', 'in_progress']).toContain((await tenant.openai.batches.retrieve(locked.id)).status);

      const rerouted = await sdkBatch(tenant, linesWith(LOCKED_MODEL, [`rerouted ${t}`]).file);
      expect(rerouted.model).toBe(LOCKED_MODEL);

      const lockedDone = await untilFinished(tenant, locked.id);
      expect(lockedDone).toMatchObject({ status: 'completed', model: LOCKED_MODEL, request_counts: { total: 40, completed: 40, failed: 0 } });
      const { output, errors } = await results(tenant, lockedDone);
      expectEveryLineOnce(customIds, output, errors);
      for (const line of output) {
        expect(line.response!.request_id).toMatch(/^req_fake_/);
        expect(line.response!.body.model).toBe(LOCKED_UPSTREAM_MODEL);
      }
      expect(contents.every((c) => rig.upstream.attempts.get(c) === 1)).toBe(true);

      const reroutedDone = await untilFinished(tenant, rerouted.id);
      expect(reroutedDone).toMatchObject({ status: 'completed', model: LOCKED_MODEL });
      const [answer] = await fileLines(tenant, reroutedDone.output_file_id);
      expect(answer.response!.request_id).toMatch(/^req_mock_/);
      expect(answer.response!.body.model).toBe(SPARE_UPSTREAM_MODEL);
      expect(rig.upstream.attempts.has(`rerouted ${t}`)).toBe(false);
    });
  });

  describe('create-time refusals', () => {
    let rig: Rig;
    let tenant: Tenant;

    beforeAll(async () => {
      rig = await startRig({ latencyMs: 0, maxConcurrency: 16, env: {} });
    });
    afterAll(() => stopRig(rig));
    beforeEach(async () => {
      tenant = await rig.gw.newTenant('refused');
    });

    const request = (input_file_id: string | undefined, extra: Record<string, unknown> = {}) => ({
      ...(input_file_id === undefined ? {} : { input_file_id }),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      ...extra,
    });

    async function expectNoBatches(t: Tenant, ids: string[] = []): Promise<void> {
      for (const prefix of PREFIXES) {
        const list = unwrap(await rest(rig.gw, t.apiKey, 'GET', `${prefix}/batches`), prefix);
        expect({ prefix, ids: list.data.map((b: any) => b.id) }).toEqual({ prefix, ids });
      }
    }

    it('refuses bad input files and unroutable models with their batch_* codes, naming the line, and creates nothing', async () => {
      const { gw } = rig;
      const duplicate = await upload(
        tenant,
        jsonl([requestLine(1, FAKE_MODEL), requestLine(2, FAKE_MODEL), { ...requestLine(3, FAKE_MODEL), custom_id: 'req-1' }, requestLine(4, FAKE_MODEL)]),
      );
      const third = requestLine(3, FAKE_MODEL);
      const noModel = await upload(
        tenant,
        jsonl([requestLine(1, FAKE_MODEL), requestLine(2, FAKE_MODEL), { ...third, body: { messages: third.body.messages } }, requestLine(4, FAKE_MODEL)]),
      );
      const mixed = await upload(tenant, jsonl([requestLine(1, FAKE_MODEL), requestLine(2, 'other-model'), requestLine(3, FAKE_MODEL)]));
      const unsupported = await upload(tenant, jsonl([requestLine(1, 'no-such-model'), requestLine(2, 'no-such-model')]));
      const dormant = await upload(tenant, jsonl([requestLine(1, DORMANT_MODEL)]));

      for (const [fileId, what] of [
        [duplicate, /custom_id/],
        [noModel, /body\.model/],
      ] as const) {
        const error = await expectRefused(gw, tenant.apiKey, 'POST', '/batches', request(fileId), 400, 'batch_invalid_jsonl');
        expect(error).toMatchObject({ type: 'invalid_request_error', param: 'input_file_id' });
        expect(error.message).toMatch(/\bline 3\b/i);
        expect(error.message).toMatch(what);
        expect(error.message).not.toMatch(/\bline [24]\b/i);
      }
      const multiple = await expectRefused(gw, tenant.apiKey, 'POST', '/batches', request(mixed), 400, 'batch_multiple_models');
      expect(multiple.message).toContain(FAKE_MODEL);
      expect(multiple.message).toContain('other-model');
      const notSupported = await expectRefused(gw, tenant.apiKey, 'POST', '/batches', request(unsupported), 400, 'batch_model_not_supported');
      expect(notSupported.message).toContain('no-such-model');
      const unavailable = await expectRefused(gw, tenant.apiKey, 'POST', '/batches', request(dormant), 400, 'batch_routing_unavailable');
      expect(unavailable.message).toContain(DORMANT_MODEL);

      // the SDK sees the same refusal as an APIError
      await expect(tenant.openai.batches.create(request(dormant) as OpenAI.BatchCreateParams)).rejects.toMatchObject({
        status: 400,
        code: 'batch_routing_unavailable',
      });
      await expectNoBatches(tenant);
    });

    it("answers 404 not_found for an unknown file and for another tenant's file, and creates nothing", async () => {
      const neighbour = await rig.gw.newTenant('neighbour');
      const theirs = await upload(neighbour, jsonl([requestLine(1, FAKE_MODEL)]));
      for (const fileId of ['file-doesnotexist0000000000', theirs]) {
        const error = await expectRefused(rig.gw, tenant.apiKey, 'POST', '/batches', request(fileId), 404, 'not_found');
        expect(error).toMatchObject({ type: 'invalid_request_error', message: expect.stringContaining(fileId) });
      }
      await expectNoBatches(tenant);
      await expectNoBatches(neighbour);
    });

    it('refuses bad parameters with 400 invalid_request_error naming the parameter, and creates nothing', async () => {
      const good = await upload(tenant, jsonl([requestLine(1, FAKE_MODEL)]));
      const metadataOf = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`key${i}`, 'v']));
      const cases: { what: string; body: unknown; param: string }[] = [
        { what: 'a missing input_file_id', body: request(undefined), param: 'input_file_id' },
        { what: 'an unsupported endpoint', body: request(good, { endpoint: '/v1/images/generations' }), param: 'endpoint' },
        { what: 'an unsupported completion_window', body: request(good, { completion_window: '48h' }), param: 'completion_window' },
        { what: '17 metadata pairs', body: request(good, { metadata: metadataOf(17) }), param: 'metadata' },
        { what: 'a 65-character metadata key', body: request(good, { metadata: { ['k'.repeat(65)]: 'v' } }), param: 'metadata' },
        { what: 'a 513-character metadata value', body: request(good, { metadata: { k: 'v'.repeat(513) } }), param: 'metadata' },
        { what: 'a non-string metadata value', body: request(good, { metadata: { k: 1 } }), param: 'metadata' },
        { what: 'a callback_url that is not a URL', body: request(good, { callback_url: 'not a url' }), param: 'callback_url' },
      ];
      for (const { what, body, param } of cases) {
        const error = await expectRefused(rig.gw, tenant.apiKey, 'POST', '/batches', body, 400, 'invalid_request_error');
        expect({ what, param: error.param, type: error.type }).toEqual({ what, param, type: 'invalid_request_error' });
      }
      await expectNoBatches(tenant);

      // the limits themselves are allowed: 16 pairs, 64-character keys, 512-character values
      const edge = { ...metadataOf(15), ['k'.repeat(64)]: 'v'.repeat(512) };
      const accepted = await tenant.openai.batches.create(request(good, { metadata: edge }) as OpenAI.BatchCreateParams);
      expect(accepted.metadata).toEqual(edge);
      await expectNoBatches(tenant, [accepted.id]);
      expect((await untilFinished(tenant, accepted.id)).status).toBe('completed');
    });

    it("refuses a finished batch's output file as input (purpose batch_output) with 400", async () => {
      const done = await untilFinished(tenant, (await sdkBatch(tenant, jsonl([requestLine(1, FAKE_MODEL), requestLine(2, FAKE_MODEL)]))).id);
      expect(done).toMatchObject({ status: 'completed', output_file_id: expect.stringMatching(/^file-/) });
      const error = await expectRefused(rig.gw, tenant.apiKey, 'POST', '/batches', request(done.output_file_id), 400, 'invalid_request_error');
      expect(error).toMatchObject({ param: 'input_file_id', message: expect.stringContaining('batch_output') });
      await expectNoBatches(tenant, [done.id]);
    });
  });

  describe('stopping a running batch', () => {
    let rig: Rig;
    let tenant: Tenant;
    const LINES = 300;

    beforeAll(async () => {
      // 300 lines of 50 ms, four at a time: about 4 s if left alone
      rig = await startRig({ latencyMs: 50, maxConcurrency: 4, env: {} });
    });
    afterAll(() => stopRig(rig));
    beforeEach(async () => {
      tenant = await rig.gw.newTenant('stopper');
    });

    /** A slow batch on the fake upstream, once some of its lines have finished. */
    async function slowBatchUnderway(): Promise<{ running: OpenAI.Batch; customIds: string[]; contents: string[] }> {
      const t = tag();
      const contents = Array.from({ length: LINES }, (_, i) => `slow ${t} ${i}`);
      const { customIds, file } = linesWith(FAKE_MODEL, contents);
      const created = await sdkBatch(tenant, file);
      const running = await untilBatch(tenant, created.id, (b) => b.request_counts!.completed > 0 || TERMINAL.includes(b.status));
      expect(running).toMatchObject({ status: 'in_progress', in_progress_at: expect.any(Number) });
      expect(running.request_counts!.completed).toBeLessThan(LINES);
      return { running, customIds, contents };
    }

    /** Finished lines kept (each sent once), the rest `code` with no response and never sent upstream. */
    async function expectStoppedWith(batch: OpenAI.Batch, customIds: string[], contents: string[], code: string): Promise<void> {
      const { output, errors } = await results(tenant, batch);
      expectEveryLineOnce(customIds, output, errors);
      expect(batch.request_counts).toEqual({ total: LINES, completed: output.length, failed: errors.length });
      expect(output.length).toBeGreaterThan(0);
      expect(errors.length).toBeGreaterThan(0);
      output.forEach(expectSuccessLine);
      expect(batch.usage).toMatchObject({ input_tokens: 10 * output.length, output_tokens: 5 * output.length, total_tokens: 15 * output.length });
      for (const line of errors) {
        expect(line).toEqual({
          id: expect.stringMatching(/^batch_req_/),
          custom_id: line.custom_id,
          response: null,
          error: { code, message: expect.any(String) },
        });
      }
      const contentOf = (l: ResultLine) => contents[customIds.indexOf(l.custom_id)];
      expect(output.map((l) => rig.upstream.attempts.get(contentOf(l))).every((n) => n === 1)).toBe(true);
      expect(errors.filter((l) => rig.upstream.attempts.has(contentOf(l))).map((l) => l.custom_id)).toEqual([]);
    }

    it('cancels mid-batch: cancelling then cancelled, finished lines kept, the rest batch_cancelled; input file locked until the end', async () => {
      const { gw } = rig;
      const { running, customIds, contents } = await slowBatchUnderway();
      const inputPath = `/files/${running.input_file_id}`;

      const inUse = await expectRefused(gw, tenant.apiKey, 'DELETE', inputPath, undefined, 409, 'file_in_use');
      expect(inUse.message).toContain(running.id);

      const cancelling = await tenant.openai.batches.cancel(running.id);
      expect(cancelling).toMatchObject({ id: running.id, status: 'cancelling', cancelling_at: expect.any(Number), cancelled_at: null });
      expect(await tenant.openai.batches.retrieve(running.id)).toMatchObject({ status: 'cancelling', cancelling_at: cancelling.cancelling_at });
      // cancelling again while it winds down answers the batch as it is
      for (const prefix of PREFIXES) {
        const again = unwrap(await rest(gw, tenant.apiKey, 'POST', `${prefix}/batches/${running.id}/cancel`), prefix);
        expect(again).toMatchObject({ id: running.id, status: 'cancelling', cancelling_at: cancelling.cancelling_at });
      }
      await expectRefused(gw, tenant.apiKey, 'DELETE', inputPath, undefined, 409, 'file_in_use');

      const batch = await untilFinished(tenant, running.id);
      expect(batch).toMatchObject({
        status: 'cancelled',
        cancelling_at: cancelling.cancelling_at,
        cancelled_at: expect.any(Number),
        completed_at: null,
        expired_at: null,
        failed_at: null,
      });
      expect(batch.cancelled_at!).toBeGreaterThanOrEqual(batch.cancelling_at!);
      await expectStoppedWith(batch, customIds, contents, 'batch_cancelled');

      for (const prefix of PREFIXES) {
        const again = unwrap(await rest(gw, tenant.apiKey, 'POST', `${prefix}/batches/${batch.id}/cancel`), prefix);
        expect(again).toMatchObject({ id: batch.id, status: 'cancelled', cancelled_at: batch.cancelled_at });
      }

      const deleted = unwrap(await rest(gw, tenant.apiKey, 'DELETE', `/v1${inputPath}`), '/v1');
      expect(deleted).toEqual({ id: running.input_file_id, object: 'file', deleted: true });
      await expectRefused(gw, tenant.apiKey, 'GET', inputPath, undefined, 404, 'not_found');
      // the results outlive the input
      expect((await results(tenant, batch)).output.length).toBe(batch.request_counts!.completed);
    });

    it('expires a batch past its window: expired with expired_at, finished lines kept, the rest batch_expired', async () => {
      const { gw } = rig;
      // Created a day and a minute ago by the gateway's clock: once the clock catches up, its window has passed.
      const { running, customIds, contents } = await backdated(gw.app, (DAY + 60) * 1000, slowBatchUnderway);
      const past = running.expires_at!;
      expect(past).toBe(running.created_at + DAY);
      expect(past).toBeLessThan(Date.now() / 1000);

      const batch = await untilFinished(tenant, running.id);
      expect(batch).toMatchObject({
        status: 'expired',
        expires_at: past,
        expired_at: expect.any(Number),
        completed_at: null,
        cancelling_at: null,
        cancelled_at: null,
        failed_at: null,
      });
      expect(batch.expired_at!).toBeGreaterThanOrEqual(batch.in_progress_at!);
      expect(batch.expired_at!).toBeGreaterThanOrEqual(past);
      await expectStoppedWith(batch, customIds, contents, 'batch_expired');

      await expectRefused(gw, tenant.apiKey, 'POST', `/batches/${batch.id}/cancel`, undefined, 409, 'batch_not_cancellable');
      const deleted = unwrap(await rest(gw, tenant.apiKey, 'DELETE', `/api/v1/files/${running.input_file_id}`), '/api/v1');
      expect(deleted).toEqual({ id: running.input_file_id, object: 'file', deleted: true });
    });
  });
});
