import { BatchesService } from '@app/batches';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { startGateway, Tenant, TestGateway, waitFor } from './support/gateway';
import { jsonl, requestFile, requestLine } from './support/jsonl';

/**
 * Batches end to end through the public API: the SDK flow on the built-in mock and on a real
 * OpenAI-compatible upstream (key injection, upstream model, usage), per-line retries and error
 * lines, create-time refusals under both envelopes, listing and tenant isolation, cancel mid-batch,
 * and expiry by the sweeper. Every input line must end in exactly one of the output and error files.
 */

jest.setTimeout(120_000);

const PREFIXES = ['/v1', '/api/v1'] as const;
type Prefix = (typeof PREFIXES)[number];

const MOCK_MODEL = 'batch-test-model';
const FAKE_MODEL = 'fake-model';
const DORMANT_MODEL = 'dormant-model';
const UPSTREAM_MODEL = 'fake-upstream-model';
const UPSTREAM_KEY = 'sk-upstream-secret';
const TERMINAL = ['completed', 'failed', 'expired', 'cancelled'];

interface Rest {
  status: number;
  body: any;
}

interface ResultLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: any } | null;
  error: { code: string; message: string } | null;
}

async function rest(gw: TestGateway, key: string, method: string, path: string, body?: unknown): Promise<Rest> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${gw.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

function ok(res: Rest, prefix: Prefix, what: string): any {
  if (res.status !== 200) throw new Error(`${what} under ${prefix} answered ${res.status}: ${JSON.stringify(res.body)}`);
  if (prefix === '/v1') return res.body;
  expect(res.body).toMatchObject({ success: true, code: '200' });
  return res.body.data;
}

/** Asserts the same refusal under both prefixes, each in its own envelope; returns the /v1 error. */
async function expectRefusedEverywhere(gw: TestGateway, key: string, method: string, path: string, body: unknown, status: number, code: string): Promise<any> {
  let v1Error: any;
  for (const prefix of PREFIXES) {
    const res = await rest(gw, key, method, `${prefix}${path}`, body);
    expect({ prefix, status: res.status }).toEqual({ prefix, status });
    if (prefix === '/v1') {
      expect(res.body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
      v1Error = res.body.error;
    } else {
      expect(res.body).toEqual({ success: false, code, message: expect.any(String), data: null });
    }
  }
  return v1Error;
}

async function upload(tenant: Tenant, content: string): Promise<string> {
  const file = await tenant.openai.files.create({ file: await toFile(Buffer.from(content), 'requests.jsonl'), purpose: 'batch' });
  return file.id;
}

async function createBatch(tenant: Tenant, content: string, metadata?: Record<string, string>): Promise<OpenAI.Batch> {
  const input_file_id = await upload(tenant, content);
  return tenant.openai.batches.create({ input_file_id, endpoint: '/v1/chat/completions', completion_window: '24h', ...(metadata ? { metadata } : {}) });
}

function waitForBatch(tenant: Tenant, id: string, done: (b: OpenAI.Batch) => boolean, timeoutMs = 60_000): Promise<OpenAI.Batch> {
  return waitFor(() => tenant.openai.batches.retrieve(id), done, timeoutMs, 50);
}

const finished = (tenant: Tenant, id: string) => waitForBatch(tenant, id, (b) => TERMINAL.includes(b.status));

async function resultLines(tenant: Tenant, fileId: string | null | undefined): Promise<ResultLine[]> {
  if (!fileId) return [];
  const text = await (await tenant.openai.files.content(fileId)).text();
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

async function outputs(tenant: Tenant, batch: OpenAI.Batch): Promise<{ output: ResultLine[]; errors: ResultLine[] }> {
  return { output: await resultLines(tenant, batch.output_file_id), errors: await resultLines(tenant, batch.error_file_id) };
}

/** Every custom_id of the input appears exactly once across both files, each file in input order. */
function expectEveryLineOnce(customIds: string[], output: ResultLine[], errors: ResultLine[]): void {
  const seen = [...output, ...errors].map((l) => l.custom_id);
  expect([...seen].sort()).toEqual([...customIds].sort());
  const order = new Map(customIds.map((id, i) => [id, i]));
  for (const file of [output, errors]) {
    const positions = file.map((l) => order.get(l.custom_id)!);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  }
  for (const line of [...output, ...errors]) expect(line.id).toMatch(/^batch_req_/);
}

const tag = () => randomBytes(4).toString('hex');

/** Request lines whose message contents are the given strings (markers steer the fake upstream). */
function contentLines(model: string, contents: string[]): { ids: string[]; file: string } {
  const lines = contents.map((content, i) => requestLine(i, model, { messages: [{ role: 'user', content }] }));
  return { ids: lines.map((l) => l.custom_id), file: jsonl(lines) };
}

function routingFile(dir: string, upstreamUrl: string, fakeConcurrency: number): string {
  const path = join(dir, 'routing.yaml');
  writeFileSync(
    path,
    [
      'providers:',
      '  - id: mock',
      '    kind: mock',
      '    max_concurrency: 64',
      '  - id: fake',
      '    kind: openai',
      `    base_url: ${upstreamUrl}`,
      '    api_key_env: FAKE_UPSTREAM_KEY',
      `    max_concurrency: ${fakeConcurrency}`,
      'skus:',
      `  - id: ${MOCK_MODEL}@mock`,
      `    model: ${MOCK_MODEL}`,
      '    provider: mock',
      '    upstream_model: mock-echo-1',
      '    batch_capable: true',
      '    active: true',
      `  - id: ${FAKE_MODEL}@fake`,
      `    model: ${FAKE_MODEL}`,
      '    provider: fake',
      `    upstream_model: ${UPSTREAM_MODEL}`,
      '    batch_capable: true',
      '    active: true',
      '    priority: 10',
      `  - id: ${DORMANT_MODEL}@fake`,
      `    model: ${DORMANT_MODEL}`,
      '    provider: fake',
      `    upstream_model: ${UPSTREAM_MODEL}`,
      '    batch_capable: true',
      '    active: false',
      '',
    ].join('\n'),
  );
  return path;
}

interface Rig {
  gw: TestGateway;
  upstream: FakeUpstream;
  dir: string;
}

async function startRig(opts: { latencyMs: number; chunkSize: number; fakeConcurrency: number }): Promise<Rig> {
  const upstream = await startFakeUpstream({ latencyMs: opts.latencyMs });
  const dir = mkdtempSync(join(tmpdir(), 'bg-batches-'));
  const gw = await startGateway({
    ROUTING_FILE: routingFile(dir, upstream.url, opts.fakeConcurrency),
    FAKE_UPSTREAM_KEY: UPSTREAM_KEY,
    UPSTREAM_TIMEOUT_MS: '500',
    UPSTREAM_MAX_ATTEMPTS: '3',
    CHUNK_SIZE: String(opts.chunkSize),
  });
  return { gw, upstream, dir };
}

async function stopRig(rig: Rig | undefined): Promise<void> {
  if (!rig) return;
  await rig.gw?.close();
  await rig.upstream?.close();
  rmSync(rig.dir, { recursive: true, force: true });
}

describe(BatchesService.name, () => {
  describe('running batches', () => {
    let rig: Rig;
    let tenant: Tenant;

    beforeAll(async () => {
      rig = await startRig({ latencyMs: 0, chunkSize: 20, fakeConcurrency: 16 });
    });
    afterAll(() => stopRig(rig));
    beforeEach(async () => {
      tenant = await rig.gw.newTenant('batches');
    });

    it.each([
      { route: 'the built-in mock', model: MOCK_MODEL },
      { route: 'the fake upstream', model: FAKE_MODEL },
    ])('runs an SDK batch on $route to completed with every line in the output, usage summed and metadata echoed', async ({ model }) => {
      const t = tag();
      const { ids, file } = contentLines(
        model,
        Array.from({ length: 5 }, (_, i) => `sdk ${t} line ${i}`),
      );
      const created = await createBatch(tenant, file, { k: 'v' });
      expect(created).toMatchObject({
        id: expect.stringMatching(/^batch_/),
        object: 'batch',
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        metadata: { k: 'v' },
        request_counts: { total: 5 },
      });
      expect(['validating', 'in_progress', 'finalizing', 'completed']).toContain(created.status);
      expect(created.expires_at).toBe(created.created_at + 86400);

      const batch = await finished(tenant, created.id);
      expect(batch).toMatchObject({
        id: created.id,
        status: 'completed',
        input_file_id: created.input_file_id,
        output_file_id: expect.stringMatching(/^file-/),
        error_file_id: null,
        request_counts: { total: 5, completed: 5, failed: 0 },
        metadata: { k: 'v' },
        created_at: created.created_at,
        expires_at: created.created_at + 86400,
        failed_at: null,
        expired_at: null,
        cancelling_at: null,
        cancelled_at: null,
      });
      for (const at of ['in_progress_at', 'finalizing_at', 'completed_at'] as const) {
        expect({ at, value: batch[at] }).toEqual({ at, value: expect.any(Number) });
        expect(batch[at]!).toBeGreaterThanOrEqual(batch.created_at);
      }
      expect(batch.in_progress_at!).toBeLessThanOrEqual(batch.finalizing_at!);
      expect(batch.finalizing_at!).toBeLessThanOrEqual(batch.completed_at!);

      const outputFile = await tenant.openai.files.retrieve(batch.output_file_id!);
      expect(outputFile).toMatchObject({ object: 'file', purpose: 'batch_output' });

      const { output, errors } = await outputs(tenant, batch);
      expect(errors).toEqual([]);
      expectEveryLineOnce(ids, output, errors);
      for (const line of output) {
        expect(line).toEqual({
          id: expect.stringMatching(/^batch_req_/),
          custom_id: expect.any(String),
          response: { status_code: 200, request_id: expect.stringMatching(/\S/), body: expect.objectContaining({ object: 'chat.completion' }) },
          error: null,
        });
      }
      expect(new Set(output.map((l) => l.id)).size).toBe(output.length);

      const summed = output.reduce(
        (s, l) => ({
          input: s.input + l.response!.body.usage.prompt_tokens,
          output: s.output + l.response!.body.usage.completion_tokens,
          total: s.total + l.response!.body.usage.total_tokens,
        }),
        { input: 0, output: 0, total: 0 },
      );
      expect(summed.total).toBeGreaterThan(0);
      expect(batch.usage).toMatchObject({ input_tokens: summed.input, output_tokens: summed.output, total_tokens: summed.total });

      if (model === FAKE_MODEL) {
        expect(batch.usage).toMatchObject({ input_tokens: 50, output_tokens: 25, total_tokens: 75 });
        for (const line of output) {
          expect(line.response!.request_id).toMatch(/^req_fake_/);
          expect(line.response!.body.model).toBe(UPSTREAM_MODEL);
        }
        expect([...rig.upstream.authorizations]).toEqual([`Bearer ${UPSTREAM_KEY}`]);
        expect(rig.upstream.models.has(UPSTREAM_MODEL)).toBe(true);
        expect(rig.upstream.models.has(FAKE_MODEL)).toBe(false);
        for (let i = 0; i < 5; i++) expect(rig.upstream.attempts.get(`sdk ${t} line ${i}`)).toBe(1);
      }
    });

    it('retries 5xx and 429 to success, and turns a 400, a hang and a persistent 500 into error lines', async () => {
      const t = tag();
      const contents = {
        ok: `plain ${t}`,
        flaky500: `flaky ${t} #status=500x2`,
        throttled: `throttled ${t} #status=429x1 #retry-after=1`,
        bad: `bad ${t} #status=400`,
        hang: `hang ${t} #hang`,
        broken: `broken ${t} #status=500`,
      };
      const keys = Object.keys(contents) as (keyof typeof contents)[];
      const { ids, file } = contentLines(FAKE_MODEL, Object.values(contents));
      const idOf = (k: keyof typeof contents) => ids[keys.indexOf(k)];

      const created = await createBatch(tenant, file);
      const batch = await finished(tenant, created.id);
      expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 6, completed: 3, failed: 3 } });
      expect(batch.usage).toMatchObject({ input_tokens: 30, output_tokens: 15, total_tokens: 45 });

      const { output, errors } = await outputs(tenant, batch);
      expectEveryLineOnce(ids, output, errors);
      expect(output.map((l) => l.custom_id)).toEqual([idOf('ok'), idOf('flaky500'), idOf('throttled')]);
      for (const line of output) expect(line).toMatchObject({ response: { status_code: 200 }, error: null });

      const errorOf = (k: keyof typeof contents) => errors.find((l) => l.custom_id === idOf(k));
      expect(errors.map((l) => l.custom_id)).toEqual([idOf('bad'), idOf('hang'), idOf('broken')]);
      expect(errorOf('bad')).toMatchObject({
        response: { status_code: 400, request_id: expect.any(String), body: { error: expect.any(Object) } },
        error: { code: 'upstream_client_error', message: expect.stringContaining('400') },
      });
      expect(errorOf('hang')!.error).toMatchObject({ code: 'upstream_timeout', message: expect.any(String) });
      expect(errorOf('broken')!.error).toMatchObject({ code: 'upstream_server_error', message: expect.any(String) });

      const attempts = Object.fromEntries(keys.map((k) => [k, rig.upstream.attempts.get(contents[k])]));
      expect(attempts).toEqual({ ok: 1, flaky500: 3, throttled: 2, bad: 1, hang: 3, broken: 3 });
    });
  });

  describe('create-time refusals', () => {
    let rig: Rig;

    beforeAll(async () => {
      rig = await startRig({ latencyMs: 0, chunkSize: 20, fakeConcurrency: 16 });
    });
    afterAll(() => stopRig(rig));

    const create = (input_file_id: string | undefined, extra: Record<string, unknown> = {}) => ({
      ...(input_file_id === undefined ? {} : { input_file_id }),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      ...extra,
    });

    it('refuses bad files, routes and parameters under both envelopes and creates no batch', async () => {
      const { gw } = rig;
      const tenant = await gw.newTenant('refusals');
      const other = await gw.newTenant('neighbour');

      // an output file of this tenant's own finished batch, to offer as input
      const done = await finished(tenant, (await createBatch(tenant, requestFile(2))).id);
      expect(done.status).toBe('completed');
      const before = ok(await rest(gw, tenant.apiKey, 'GET', '/v1/batches'), '/v1', 'list').data.map((b: any) => b.id);
      expect(before).toEqual([done.id]);

      const good = await upload(tenant, requestFile(2));
      const duplicate = await upload(
        tenant,
        jsonl([requestLine(1), requestLine(2), { ...requestLine(3), custom_id: 'req-1' }, requestLine(4)]),
      );
      const mixed = await upload(tenant, jsonl([requestLine(1, MOCK_MODEL), requestLine(2, FAKE_MODEL)]));
      const unsupported = await upload(tenant, requestFile(2, 'no-such-model'));
      const dormant = await upload(tenant, requestFile(2, DORMANT_MODEL));
      const theirs = await upload(other, requestFile(2));
      const seventeen = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`key${i}`, 'v']));

      const invalid = await expectRefusedEverywhere(gw, tenant.apiKey, 'POST', '/batches', create(duplicate), 400, 'batch_invalid_jsonl');
      expect(invalid.message).toMatch(/line 3\b/i);
      expect(invalid.message).not.toMatch(/line [24]\b/i);
      await expectRefusedEverywhere(gw, tenant.apiKey, 'POST', '/batches', create(mixed), 400, 'batch_multiple_models');
      const unsupportedError = await expectRefusedEverywhere(gw, tenant.apiKey, 'POST', '/batches', create(unsupported), 400, 'batch_model_not_supported');
      expect(unsupportedError.message).toContain('no-such-model');
      await expectRefusedEverywhere(gw, tenant.apiKey, 'POST', '/batches', create(dormant), 400, 'batch_routing_unavailable');
      await expectRefusedEverywhere(gw, tenant.apiKey, 'POST', '/batches', create('file-doesnotexist0000'), 404, 'not_found');
      await expectRefusedEverywhere(gw, tenant.apiKey, 'POST', '/batches', create(theirs), 404, 'not_found');

      const badRequests: { what: string; body: unknown; param: string }[] = [
        { what: 'an output file as input', body: create(done.output_file_id!), param: 'input_file_id' },
        { what: 'a bad endpoint', body: create(good, { endpoint: '/v1/embeddings' }), param: 'endpoint' },
        { what: 'a bad completion_window', body: create(good, { completion_window: '48h' }), param: 'completion_window' },
        { what: '17 metadata keys', body: create(good, { metadata: seventeen }), param: 'metadata' },
        { what: 'a non-string metadata value', body: create(good, { metadata: { k: 1 } }), param: 'metadata' },
        { what: 'a missing input_file_id', body: create(undefined), param: 'input_file_id' },
        { what: 'a callback_url that is not a URL', body: create(good, { callback_url: 'not a url' }), param: 'callback_url' },
      ];
      for (const { what, body, param } of badRequests) {
        const error = await expectRefusedEverywhere(gw, tenant.apiKey, 'POST', '/batches', body, 400, 'invalid_request_error');
        expect({ what, param: error.param }).toEqual({ what, param });
      }

      for (const prefix of PREFIXES) {
        const list = ok(await rest(gw, tenant.apiKey, 'GET', `${prefix}/batches`), prefix, 'list');
        expect({ prefix, ids: list.data.map((b: any) => b.id) }).toEqual({ prefix, ids: [done.id] });
      }
      expect(ok(await rest(gw, other.apiKey, 'GET', '/v1/batches'), '/v1', 'list').data).toEqual([]);
    });
  });

  describe('listing and isolation', () => {
    let rig: Rig;

    beforeAll(async () => {
      rig = await startRig({ latencyMs: 0, chunkSize: 20, fakeConcurrency: 16 });
    });
    afterAll(() => stopRig(rig));

    it('lists newest first with has_more, first_id, last_id and after, and hides batches from other tenants', async () => {
      const { gw } = rig;
      const tenant = await gw.newTenant('lister');
      const other = await gw.newTenant('stranger');
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await createBatch(tenant, requestFile(1))).id);
      const [first, second, third] = ids;

      for (const prefix of PREFIXES) {
        const page1 = ok(await rest(gw, tenant.apiKey, 'GET', `${prefix}/batches?limit=2`), prefix, 'list');
        expect(page1).toMatchObject({ object: 'list', first_id: third, last_id: second, has_more: true });
        expect(page1.data.map((b: any) => b.id)).toEqual([third, second]);
        expect(page1.data[0]).toMatchObject({ object: 'batch', id: third });

        const page2 = ok(await rest(gw, tenant.apiKey, 'GET', `${prefix}/batches?limit=2&after=${second}`), prefix, 'list');
        expect(page2).toMatchObject({ object: 'list', first_id: first, last_id: first, has_more: false });
        expect(page2.data.map((b: any) => b.id)).toEqual([first]);
      }
      const sdkPage = await tenant.openai.batches.list({ limit: 2 });
      expect(sdkPage.data.map((b) => b.id)).toEqual([third, second]);
      expect(sdkPage.has_more).toBe(true);

      expect(ok(await rest(gw, other.apiKey, 'GET', '/v1/batches'), '/v1', 'list')).toMatchObject({ data: [], has_more: false });
      await expectRefusedEverywhere(gw, other.apiKey, 'GET', `/batches/${first}`, undefined, 404, 'not_found');
      await expectRefusedEverywhere(gw, other.apiKey, 'POST', `/batches/${first}/cancel`, undefined, 404, 'not_found');

      // the stranger's cancel touched nothing
      const mine = await finished(tenant, first);
      expect(mine.status).toBe('completed');
      expect(mine.cancelling_at).toBeNull();
    });
  });

  describe('cancel and expiry', () => {
    let rig: Rig;
    let tenant: Tenant;
    const LINES = 200;
    const FAKE_CONCURRENCY = 4;

    beforeAll(async () => {
      rig = await startRig({ latencyMs: 40, chunkSize: 10, fakeConcurrency: FAKE_CONCURRENCY });
    });
    afterAll(() => stopRig(rig));
    beforeEach(async () => {
      tenant = await rig.gw.newTenant('stopper');
    });

    /** A slow batch on the fake upstream (200 lines, 40 ms each, 4 at a time), once its first line has finished. */
    async function slowBatchUnderway(): Promise<{ batch: OpenAI.Batch; ids: string[]; contents: string[] }> {
      const t = tag();
      const contents = Array.from({ length: LINES }, (_, i) => `slow ${t} line ${i}`);
      const { ids, file } = contentLines(FAKE_MODEL, contents);
      const created = await createBatch(tenant, file);
      const batch = await waitForBatch(tenant, created.id, (b) => (b.request_counts?.completed ?? 0) > 0 || TERMINAL.includes(b.status));
      expect(batch.status).toBe('in_progress');
      return { batch, ids, contents };
    }

    /**
     * Lines in the error file with `code` carry no response, and were not sent upstream, except those
     * in flight when the batch stopped (aborted, so at most one per concurrency slot, each tried once).
     */
    function expectUnsent(errors: ResultLine[], ids: string[], contents: string[], code: string): void {
      const unsent = errors.filter((l) => l.error?.code === code);
      expect(unsent.length).toBeGreaterThan(0);
      for (const line of unsent) expect(line).toMatchObject({ response: null, error: { code, message: expect.any(String) } });
      const attempted = unsent.map((l) => rig.upstream.attempts.get(contents[ids.indexOf(l.custom_id)])).filter((n) => n !== undefined);
      expect(attempted.length).toBeLessThanOrEqual(FAKE_CONCURRENCY);
      expect(attempted.every((n) => n === 1)).toBe(true);
      expect(attempted.length).toBeLessThan(unsent.length);
    }

    it('cancels mid-batch: cancelling then cancelled, finished lines kept, unsent lines batch_cancelled, input file locked until the end', async () => {
      const { gw } = rig;
      const { batch: running, ids, contents } = await slowBatchUnderway();

      await expectRefusedEverywhere(gw, tenant.apiKey, 'DELETE', `/files/${running.input_file_id}`, undefined, 409, 'file_in_use');

      const cancelling = await tenant.openai.batches.cancel(running.id);
      expect(cancelling).toMatchObject({ id: running.id, status: 'cancelling', cancelling_at: expect.any(Number), cancelled_at: null });

      const batch = await finished(tenant, running.id);
      expect(batch).toMatchObject({ status: 'cancelled', cancelling_at: cancelling.cancelling_at, cancelled_at: expect.any(Number), completed_at: null });
      expect(batch.cancelled_at!).toBeGreaterThanOrEqual(batch.cancelling_at!);
      expect(batch.request_counts!.total).toBe(LINES);

      const { output, errors } = await outputs(tenant, batch);
      expectEveryLineOnce(ids, output, errors);
      expect(output.length).toBe(batch.request_counts!.completed);
      expect(output.length).toBeGreaterThan(0);
      expect(output.length).toBeLessThan(LINES);
      for (const line of output) expect(line).toMatchObject({ response: { status_code: 200 }, error: null });
      expectUnsent(errors, ids, contents, 'batch_cancelled');

      for (const prefix of PREFIXES) {
        const again = ok(await rest(gw, tenant.apiKey, 'POST', `${prefix}/batches/${batch.id}/cancel`), prefix, 'cancel again');
        expect(again).toMatchObject({ id: batch.id, status: 'cancelled', cancelled_at: batch.cancelled_at });
      }

      const deleted = ok(await rest(gw, tenant.apiKey, 'DELETE', `/v1/files/${running.input_file_id}`), '/v1', 'delete');
      expect(deleted).toEqual({ id: running.input_file_id, object: 'file', deleted: true });
    });

    it('refuses to cancel a completed batch with 409 batch_not_cancellable', async () => {
      const done = await finished(tenant, (await createBatch(tenant, requestFile(2))).id);
      expect(done.status).toBe('completed');
      await expectRefusedEverywhere(rig.gw, tenant.apiKey, 'POST', `/batches/${done.id}/cancel`, undefined, 409, 'batch_not_cancellable');
      expect(await tenant.openai.batches.retrieve(done.id)).toMatchObject({ status: 'completed', cancelling_at: null, cancelled_at: null });
    });

    it('expires a batch past its window: finished lines kept, unfinished ones batch_expired', async () => {
      const { gw } = rig;
      const { batch: running, ids, contents } = await slowBatchUnderway();

      const past = Math.floor(Date.now() / 1000) - 60;
      const sql = gw.config.databaseUrl?.startsWith('postgres')
        ? 'UPDATE batches SET expires_at = $1 WHERE id = $2'
        : 'UPDATE batches SET expires_at = ? WHERE id = ?';
      await gw.dataSource.query(sql, [past, running.id]);

      const batch = await finished(tenant, running.id);
      expect(batch).toMatchObject({ status: 'expired', expired_at: expect.any(Number), completed_at: null, cancelled_at: null });
      expect(batch.expired_at!).toBeGreaterThanOrEqual(batch.created_at);
      expect(batch.request_counts!.total).toBe(LINES);

      const { output, errors } = await outputs(tenant, batch);
      expectEveryLineOnce(ids, output, errors);
      expect(output.length).toBe(batch.request_counts!.completed);
      expect(output.length).toBeGreaterThan(0);
      expect(output.length).toBeLessThan(LINES);
      expectUnsent(errors, ids, contents, 'batch_expired');

      await expectRefusedEverywhere(gw, tenant.apiKey, 'POST', `/batches/${batch.id}/cancel`, undefined, 409, 'batch_not_cancellable');
    });
  });
});
