import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { adminClient } from './support/admin-client';
import { ChildGateway } from './support/child-gateway';
import { currentDriver } from './support/databases';
import { backdated } from './support/gateway-clock';
import { FakeBatchProvider, FakeBatchProviderKnobs, FakeProviderBatch, startFakeBatchProvider } from './support/fake-batch-provider';
import { startGateway, Tenant, testEnvironment, TestGateway, waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { scrape } from './support/metrics';
import { BatchObject, restClient, ResultLine } from './support/rest-client';
import { openaiProvider, RoutingFile, sku } from './support/routing';
import { expectEveryLineOnce, fileLines, results, sdkBatch, TERMINAL, untilFinished } from './support/sdk';

/**
 * The provider Batch API executor end to end, on both drivers: a provider with `batch_api: true`
 * gets each part of a batch (at most `max_batch_lines` lines) as a file on its own Files + Batches
 * API instead of one /chat/completions request per line. The provider is a real fake on 127.0.0.1
 * (support/fake-batch-provider.ts) that writes its result files out of order, so every assertion on
 * the files checks the mapping back by custom_id. Whatever the provider does (answers, fails lines,
 * forgets them, refuses or fails a part, errs on uploads and polls, is cancelled, or the gateway is
 * killed between its create and its answer), every input line ends in exactly one of the output and
 * error files.
 */

jest.setTimeout(120_000);

const BATCH_MODEL = 'pb-model';
const REALTIME_MODEL = 'rt-model';
const UPSTREAM_MODEL = 'gpt-fake-up';
const UPSTREAM_KEY = 'sk-provider-batch-secret';
const DEFAULT_MAX_BATCH_BYTES = 209_715_200;

const tag = () => randomBytes(4).toString('hex');

const ENDPOINTS = ['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/completions', '/v1/moderations'];

/**
 * Two providers on the same fake: `batchy` through its Batch API (polled every 100 ms), `live` without
 * batch_api, so its lines go to /chat/completions one by one.
 */
function routing(fakeUrl: string, maxBatchLines: number, maxBatchBytes?: number): RoutingFile {
  const fields = { api_key_env: 'UPSTREAM_FAKE_KEY', max_concurrency: 8 };
  return {
    providers: [
      openaiProvider('batchy', fakeUrl, {
        ...fields,
        batch_api: true,
        batch_poll_interval_ms: 100,
        max_batch_lines: maxBatchLines,
        max_batch_bytes: maxBatchBytes,
      }),
      openaiProvider('live', fakeUrl, fields),
    ],
    skus: [sku(BATCH_MODEL, 'batchy', UPSTREAM_MODEL, { endpoints: ENDPOINTS }), sku(REALTIME_MODEL, 'live', UPSTREAM_MODEL)],
  };
}

const gatewayEnv = { UPSTREAM_FAKE_KEY: UPSTREAM_KEY, PROVIDER_BATCH_CANCEL_GRACE_MS: '5000' };

// ---- request files and their results ----

interface Submitted {
  batch: OpenAI.Batch;
  customIds: string[];
  contents: string[];
}

/** `count` lines on `model`, line i's content `… line i` plus whatever `marker(i)` adds (the fake's markers). */
function requestLines(count: number, marker: (i: number) => string = () => '', model = BATCH_MODEL) {
  const t = tag();
  const contents = Array.from({ length: count }, (_, i) => `pb ${t} line ${i}${marker(i)}`);
  const lines = contents.map((content, i) => ({ ...requestLine(i, model, { messages: [{ role: 'user', content }] }), custom_id: `pb-${t}-${i}` }));
  return { lines, contents, customIds: lines.map((l) => l.custom_id) };
}

async function submit(tenant: Tenant, count: number, marker?: (i: number) => string, model = BATCH_MODEL): Promise<Submitted> {
  const { lines, contents, customIds } = requestLines(count, marker, model);
  return { batch: await sdkBatch(tenant, jsonl(lines)), customIds, contents };
}

/** Each output line is the provider's answer to its own line: status 200, the upstream model, the echo of its content. */
function expectAnswers(output: ResultLine[], customIds: string[], contents: string[]): void {
  for (const line of output) {
    const content = contents[customIds.indexOf(line.custom_id)];
    expect(line).toEqual({
      id: expect.stringMatching(/^batch_req_/),
      custom_id: line.custom_id,
      response: {
        status_code: 200,
        request_id: expect.stringMatching(/\S/),
        body: expect.objectContaining({ object: 'chat.completion', model: UPSTREAM_MODEL }),
      },
      error: null,
    });
    expect({ custom_id: line.custom_id, answer: line.response!.body.choices[0].message.content }).toEqual({
      custom_id: line.custom_id,
      answer: `echo: ${content}`,
    });
  }
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

/** The lines `indexes` of the input, as custom_ids. */
const pick = (customIds: string[], indexes: number[]) => indexes.map((i) => customIds[i]);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

// ---- what the fake provider saw ----

/** The provider batches made for our batch `batchId`, by part number. */
function partsOf(fake: FakeBatchProvider, batchId: string): FakeProviderBatch[] {
  return fake.batches
    .filter((b) => b.metadata?.gateway_batch_id === batchId)
    .sort((a, b) => Number(a.metadata!.gateway_part) - Number(b.metadata!.gateway_part));
}

/** The request lines of a provider batch's input file as uploaded. */
function uploadedLines(fake: FakeBatchProvider, part: FakeProviderBatch): { custom_id: string; body: { model: string } }[] {
  const file = fake.files.get(part.input_file_id)!;
  return file.bytes
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

/** The custom_ids the provider ran in every part of `batchId` (what it put in its output files). */
function finishedByProvider(fake: FakeBatchProvider, batchId: string): string[] {
  return partsOf(fake, batchId).flatMap((b) => b.finished);
}

async function expectProviderFilesDeleted(fake: FakeBatchProvider): Promise<void> {
  const files = await waitFor(
    async () => [...fake.files.values()].map((f) => ({ id: f.id, purpose: f.purpose, deleted: f.deleted })),
    (fs) => fs.every((f) => f.deleted),
    15_000,
  );
  expect(files.length).toBeGreaterThan(0);
}

// ---- /metrics ----

const SUBMISSIONS = 'batch_gateway_provider_batch_submissions_total';
const POLLS = 'batch_gateway_provider_batch_polls_total';
const OUTCOMES = 'batch_gateway_provider_batch_outcomes_total';

// ---- the admin view ----

interface ProviderBatchView {
  part: number;
  firstLine: number;
  lastLine: number;
  providerBatchId: string | null;
  providerFileId: string | null;
  state: string;
  providerStatus: string | null;
  total: number;
  completed: number;
  failed: number;
  lastPolledAt: unknown;
  error: string | null;
}

const ADMIN_BATCH = `query($id: ID!) { batch(id: $id) {
  execution
  providerBatches { part firstLine lastLine providerBatchId providerFileId state providerStatus total completed failed lastPolledAt error }
  requests(first: 100) { rows { line customId } }
} }`;

async function adminView(gw: TestGateway, id: string): Promise<{ execution: string; parts: ProviderBatchView[]; customIdOfLine: Map<number, string> }> {
  const { batch } = await adminClient(gw.url, gw.adminToken).query(ADMIN_BATCH, { id });
  return {
    execution: batch.execution,
    parts: [...batch.providerBatches].sort((a: ProviderBatchView, b: ProviderBatchView) => a.part - b.part),
    customIdOfLine: new Map(batch.requests.rows.map((r: { line: number; customId: string }) => [r.line, r.customId])),
  };
}

// ---- one gateway and one fake provider per test ----

interface Rig {
  gw: TestGateway;
  fake: FakeBatchProvider;
  tenant: Tenant;
}

async function startRig(opts: { maxBatchLines?: number; maxBatchBytes?: number; knobs?: Partial<FakeBatchProviderKnobs> } = {}): Promise<Rig> {
  const fake = await startFakeBatchProvider(opts.knobs);
  try {
    const gw = await startGateway(gatewayEnv, routing(fake.url, opts.maxBatchLines ?? 10, opts.maxBatchBytes));
    return { gw, fake, tenant: await gw.newTenant('provider-batch') };
  } catch (err) {
    await fake.close();
    throw err;
  }
}

async function stopRig(rig: Rig | undefined): Promise<void> {
  if (!rig) return;
  await rig.gw.close();
  await rig.fake.close();
}

describe('Provider Batch API executor', () => {
  let rig: Rig | undefined;

  afterEach(async () => {
    await stopRig(rig);
    rig = undefined;
  });

  it.each([
    [
      '/v1/responses',
      { input: 'hello there' },
      (b: any) => expect(b).toMatchObject({ object: 'response', output: [{ content: [{ text: 'echo: hello there' }] }] }),
    ],
    ['/v1/embeddings', { input: 'hello there' }, (b: any) => expect(b).toMatchObject({ object: 'list', data: [{ object: 'embedding' }] })],
    [
      '/v1/completions',
      { prompt: 'hello there' },
      (b: any) => expect(b).toMatchObject({ object: 'text_completion', choices: [{ text: 'echo: hello there' }] }),
    ],
    ['/v1/moderations', { input: 'hello there' }, (b: any) => expect(b).toMatchObject({ results: [{ flagged: false }] })],
  ] as const)(
    'runs a %s batch on the provider Batch API: submitted with that endpoint, every line mapped back, usage from its fields',
    async (endpoint, fields, shape) => {
      rig = await startRig({ maxBatchLines: 2 });
      const customIds = ['e-1', 'e-2', 'e-3'];
      const content = jsonl(customIds.map((id) => ({ custom_id: id, method: 'POST', url: endpoint, body: { model: BATCH_MODEL, ...fields } })));
      const created = await sdkBatch(rig.tenant, content, { endpoint });
      const batch = await untilFinished(rig.tenant, created.id);
      expect(batch).toMatchObject({ status: 'completed', endpoint, request_counts: { total: 3, completed: 3, failed: 0 } });
      expect(rig.fake.batches.map((b) => b.endpoint)).toEqual([endpoint, endpoint]);
      expect(rig.fake.counts.realtime).toBe(0);
      const uploaded = [...rig.fake.files.values()]
        .filter((f) => f.purpose === 'batch')
        .flatMap((f) =>
          f.bytes
            .toString('utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l)),
        );
      // Parts upload side by side, so in any order.
      expect(uploaded.map((l) => [l.custom_id, l.url, l.body.model]).sort()).toEqual(customIds.map((id) => [id, endpoint, UPSTREAM_MODEL]));
      const output = await fileLines(rig.tenant, batch.output_file_id);
      expect(output.map((l) => l.custom_id)).toEqual(customIds);
      for (const line of output) shape(line.response!.body);
      const reported = output.reduce((sum, l) => sum + (l.response!.body.usage?.prompt_tokens ?? l.response!.body.usage?.input_tokens ?? 0), 0);
      expect(batch.usage!.input_tokens).toBe(reported);
      if (endpoint === '/v1/responses')
        expect(batch.usage).toMatchObject({ input_tokens_details: { cached_tokens: 3 }, output_tokens_details: { reasoning_tokens: 3 } });
    },
  );

  it('splits 25 lines into three provider batches of 10, 10 and 5, maps every answer back and deletes the provider files', async () => {
    rig = await startRig({ maxBatchLines: 10 });
    const { gw, fake, tenant } = rig;
    const { batch: created, customIds, contents } = await submit(tenant, 25);

    const batch = await untilFinished(tenant, created.id);
    expect(batch).toMatchObject({
      status: 'completed',
      error_file_id: null,
      output_file_id: expect.stringMatching(/^file-/),
      request_counts: { total: 25, completed: 25, failed: 0 },
    });
    const { output, errors } = await results(tenant, batch);
    expect(output).toHaveLength(25);
    expectEveryLineOnce(customIds, output, errors);
    expectAnswers(output, customIds, contents);
    const usage = sumUsage(output);
    expect(usage.total_tokens).toBeGreaterThan(0);
    expect(batch.usage).toMatchObject(usage);

    // the provider got three contiguous parts through its Batch API and not one realtime request
    expect(fake.batches).toHaveLength(3);
    const parts = partsOf(fake, batch.id);
    expect(parts.map((p) => p.metadata)).toEqual(['1', '2', '3'].map((part) => ({ gateway_batch_id: batch.id, gateway_part: part })));
    expect(parts.map((p) => p.request_counts.total)).toEqual([10, 10, 5]);
    expect(parts.map((p) => ({ endpoint: p.endpoint, window: p.completion_window, status: p.status }))).toEqual(
      Array(3).fill({ endpoint: '/v1/chat/completions', window: '24h', status: 'completed' }),
    );
    const ranges = [range(0, 10), range(10, 20), range(20, 25)];
    expect(parts.map((p) => uploadedLines(fake, p).map((l) => l.custom_id))).toEqual(ranges.map((r) => pick(customIds, r)));
    expect(parts.flatMap((p) => uploadedLines(fake, p).map((l) => l.body.model))).toEqual(Array(25).fill(UPSTREAM_MODEL));
    expect(fake.counts.realtime).toBe(0);
    expect([...fake.models]).toEqual([UPSTREAM_MODEL]);
    expect([...fake.authorizations]).toEqual([`Bearer ${UPSTREAM_KEY}`]);

    // the admin API shows each part's range, its provider batch and file, and that it was collected
    const view = await adminView(gw, batch.id);
    expect(view.execution).toBe('provider_batch');
    expect(view.parts).toEqual(
      parts.map((p, i) => ({
        part: i + 1,
        firstLine: [1, 11, 21][i],
        lastLine: [10, 20, 25][i],
        providerBatchId: p.id,
        providerFileId: p.input_file_id,
        state: 'collected',
        providerStatus: 'completed',
        total: p.request_counts.total,
        completed: expect.any(Number),
        failed: expect.any(Number),
        lastPolledAt: expect.anything(),
        error: null,
      })),
    );
    // the lines each part names are the ones its file carried
    for (const [i, part] of view.parts.entries()) {
      const named = range(part.firstLine, part.lastLine + 1).map((line) => view.customIdOfLine.get(line));
      expect(named).toEqual(uploadedLines(fake, parts[i]).map((l) => l.custom_id));
    }

    // inputs, outputs (no error files: nothing failed) all deleted at the provider once collected
    await expectProviderFilesDeleted(fake);
    expect(fake.files.size).toBe(6);
  });

  it("mirrors the provider's counts into request_counts while its batch runs, before any result is collected, never above total", async () => {
    rig = await startRig({ maxBatchLines: 10, knobs: { lineDelayMs: 100 } });
    const { gw, fake, tenant } = rig;
    const { batch: created, customIds, contents } = await submit(tenant, 8);
    // every request_counts this test reads, in order
    const seen: { total: number; completed: number; failed: number }[] = [];
    const retrieve = async () => {
      const b = await tenant.openai.batches.retrieve(created.id);
      seen.push(b.request_counts!);
      return b;
    };

    // The counts are read before the part: a part still submitted with its provider batch still
    // in_progress afterwards means no result had been collected when the counts were read.
    const midRun = await waitFor(
      async () => {
        const counts = (await retrieve()).request_counts!;
        const { parts } = await adminView(gw, created.id);
        return { counts, parts: parts.map((p) => ({ state: p.state, providerStatus: p.providerStatus, completed: p.completed })) };
      },
      ({ counts, parts }) => counts.completed >= 2 && parts.length === 1 && parts[0].state === 'submitted' && parts[0].providerStatus === 'in_progress',
      30_000,
      20,
    );
    expect(midRun.counts).toEqual({ total: 8, completed: expect.any(Number), failed: 0 });
    expect(midRun.counts.completed).toBeLessThan(8);
    // what was mirrored is what the provider had reported: never ahead of it (both read later, both only grow while it runs)
    expect(midRun.parts[0].completed).toBeGreaterThanOrEqual(midRun.counts.completed);
    expect(partsOf(fake, created.id)[0].request_counts.completed).toBeGreaterThanOrEqual(midRun.counts.completed);

    const batch = await waitFor(retrieve, (b) => TERMINAL.includes(b.status), 60_000, 20);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 8, completed: 8, failed: 0 } });
    // no read ever counted a line twice (mirrored and collected), and finished lines never went back
    expect(seen.length).toBeGreaterThan(5);
    expect(seen.filter((c) => c.total !== 8 || c.completed + c.failed > c.total)).toEqual([]);
    const finished = seen.map((c) => c.completed + c.failed);
    expect(finished).toEqual([...finished].sort((a, b) => a - b));
    expect(fake.batches).toHaveLength(1);
    const { output, errors } = await results(tenant, batch);
    expectEveryLineOnce(customIds, output, errors);
    expect(errors).toEqual([]);
    expectAnswers(output, customIds, contents);
  });

  it('never counts a line twice in request_counts while some parts are polled and others collected at the same time (8 parts)', async () => {
    // Eight short provider batches end close together, so polls of some parts (which mirror what the
    // submitted parts report) run while others are being collected (which takes the recorded lines
    // off their part's report): a read must never see a line both recorded and still reported.
    rig = await startRig({ maxBatchLines: 5, knobs: { lineDelayMs: 20 } });
    const { fake, tenant } = rig;
    const { batch: created, customIds, contents } = await submit(tenant, 40);
    const seen: { total: number; completed: number; failed: number }[] = [];
    const retrieve = async () => {
      const b = await tenant.openai.batches.retrieve(created.id);
      seen.push(b.request_counts!);
      return b;
    };

    const batch = await waitFor(retrieve, (b) => TERMINAL.includes(b.status), 60_000, 5);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 40, completed: 40, failed: 0 } });
    expect(fake.batches).toHaveLength(8);
    expect(seen.length).toBeGreaterThan(20);
    expect(seen.filter((c) => c.completed + c.failed > c.total)).toEqual([]);
    const { output, errors } = await results(tenant, batch);
    expectEveryLineOnce(customIds, output, errors);
    expectAnswers(output, customIds, contents);
  });

  it('splits by max_batch_bytes when it binds before max_batch_lines: every uploaded part within the limit, contiguous, every line once', async () => {
    const MAX_BYTES = 2048;
    rig = await startRig({ maxBatchLines: 1000, maxBatchBytes: MAX_BYTES });
    const { gw, fake, tenant } = rig;
    // about 300 bytes a line: 20 lines are about 6 KB, at most 6 lines to a part
    const { batch: created, customIds, contents } = await submit(tenant, 20, () => ` ${'x'.repeat(140)}`);

    const batch = await untilFinished(tenant, created.id);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 20, completed: 20, failed: 0 } });
    const { output, errors } = await results(tenant, batch);
    expectEveryLineOnce(customIds, output, errors);
    expect(errors).toEqual([]);
    expectAnswers(output, customIds, contents);
    expect(fake.counts.realtime).toBe(0);

    const parts = partsOf(fake, batch.id);
    const files = parts.map((p) => fake.files.get(p.input_file_id)!.bytes);
    const lineSizes = files.flatMap((f) =>
      f
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => Buffer.byteLength(l) + 1),
    );
    expect(lineSizes).toHaveLength(20);
    expect(lineSizes.filter((n) => n < 280 || n > 340)).toEqual([]);
    expect(parts.map((p) => p.metadata!.gateway_part)).toEqual(parts.map((_, i) => String(i + 1)));
    expect(parts.length).toBeGreaterThanOrEqual(Math.ceil(lineSizes.reduce((a, b) => a + b, 0) / MAX_BYTES));
    // every file within the limit, and none stopped far short of it (it could not have taken two more lines)
    expect(files.map((f) => f.length).filter((n) => n > MAX_BYTES)).toEqual([]);
    const longest = Math.max(...lineSizes);
    expect(
      files
        .slice(0, -1)
        .map((f) => f.length)
        .filter((n) => n <= MAX_BYTES - 2 * longest),
    ).toEqual([]);
    // contiguous ranges in line order that cover every line once
    const uploaded = parts.map((p) => uploadedLines(fake, p).map((l) => l.custom_id));
    expect(uploaded.flat()).toEqual(customIds);

    const view = await adminView(gw, batch.id);
    let next = 1;
    const expected = uploaded.map((ids) => {
      const range = { firstLine: next, lastLine: next + ids.length - 1, state: 'collected' };
      next += ids.length;
      return range;
    });
    expect(view.parts.map((p) => ({ firstLine: p.firstLine, lastLine: p.lastLine, state: p.state }))).toEqual(expected);
  });

  it('counts parts created, polls and provider outcomes in /metrics', async () => {
    rig = await startRig({ maxBatchLines: 10 });
    const { gw, fake, tenant } = rig;
    const { batch: created } = await submit(tenant, 25);

    const batch = await untilFinished(tenant, created.id);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 25, completed: 25, failed: 0 } });
    expect(fake.batches).toHaveLength(3);
    expect(fake.counts.polls).toBeGreaterThan(0);

    const { value } = await scrape(gw.url);
    const batchy = { provider: 'batchy' };
    expect({
      created: value(SUBMISSIONS, { ...batchy, outcome: 'created' }),
      adopted: value(SUBMISSIONS, { ...batchy, outcome: 'adopted' }),
      refused: value(SUBMISSIONS, { ...batchy, outcome: 'refused' }),
      // every GET /batches/{id} the provider answered, once (none failed)
      pollsOk: value(POLLS, { ...batchy, outcome: 'ok' }),
      pollsFailed: value(POLLS, { ...batchy, outcome: 'failed' }),
      completed: value(OUTCOMES, { ...batchy, status: 'completed' }),
      anyOutcome: value(OUTCOMES, batchy),
    }).toEqual({ created: 3, adopted: 0, refused: 0, pollsOk: fake.counts.polls, pollsFailed: 0, completed: 3, anyOutcome: 3 });
    expect(value(SUBMISSIONS, { provider: 'live' }) + value(POLLS, { provider: 'live' })).toBe(0);
  });

  it("puts lines the provider answered with 400 in the error file with the provider's answer (error null, as for any HTTP answer), the rest in the output", async () => {
    rig = await startRig({ maxBatchLines: 10 });
    const { fake, tenant } = rig;
    const refused = [1, 4, 11];
    const { batch: created, customIds, contents } = await submit(tenant, 14, (i) => (refused.includes(i) ? ' #status=400' : ''));

    const batch = await untilFinished(tenant, created.id);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 14, completed: 11, failed: 3 } });
    const { output, errors } = await results(tenant, batch);
    expectEveryLineOnce(customIds, output, errors);
    expect(errors.map((l) => l.custom_id)).toEqual(pick(customIds, refused));
    for (const line of errors) {
      expect(line).toEqual({
        id: expect.stringMatching(/^batch_req_/),
        custom_id: line.custom_id,
        response: {
          status_code: 400,
          request_id: expect.any(String),
          body: { error: expect.objectContaining({ type: 'invalid_request_error', message: expect.stringContaining('#status=400') }) },
        },
        error: null,
      });
    }
    expect(output).toHaveLength(11);
    expectAnswers(output, customIds, contents);
    expect(batch.usage).toMatchObject(sumUsage(output));
    expect(fake.counts.realtime).toBe(0);
  });

  it('reports a line the provider left out of its result files in the error file with upstream_missing_result', async () => {
    rig = await startRig({ maxBatchLines: 10 });
    const { fake, tenant } = rig;
    const { batch: created, customIds, contents } = await submit(tenant, 6, (i) => (i === 2 ? ' #omit' : ''));

    const batch = await untilFinished(tenant, created.id);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 6, completed: 5, failed: 1 } });
    // the provider itself claims all six done
    expect(partsOf(fake, batch.id).map((p) => p.request_counts)).toEqual([{ total: 6, completed: 6, failed: 0 }]);
    const { output, errors } = await results(tenant, batch);
    expectEveryLineOnce(customIds, output, errors);
    expect(errors).toEqual([
      {
        id: expect.stringMatching(/^batch_req_/),
        custom_id: customIds[2],
        response: null,
        error: { code: 'upstream_missing_result', message: expect.any(String) },
      },
    ]);
    expectAnswers(output, customIds, contents);
    expect(batch.usage).toMatchObject(sumUsage(output));
  });

  it("reruns a batch's failed lines on the provider's Batch API: one provider batch of exactly those lines, by default not the 4xx ones", async () => {
    rig = await startRig({ maxBatchLines: 10 });
    const { fake, tenant } = rig;
    const omitted = [2, 9, 13];
    const refused = [5];
    const marker = (i: number) => (omitted.includes(i) ? ' #omit' : refused.includes(i) ? ' #status=400' : '');
    const { batch: created, customIds } = await submit(tenant, 15, marker);
    const original = await untilFinished(tenant, created.id);
    expect(original).toMatchObject({ status: 'completed', request_counts: { total: 15, completed: 11, failed: 4 } });

    const rerun: OpenAI.Batch = await tenant.openai.post(`/batches/${original.id}/rerun`);
    expect(rerun.metadata).toEqual({ rerun_of: original.id });
    const batch = await untilFinished(tenant, rerun.id);
    expect(partsOf(fake, rerun.id).map((p) => p.customIds)).toEqual([pick(customIds, omitted)]);
    // the provider leaves them out again: the same code, in the rerun's error file
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 3, completed: 0, failed: 3 } });
    const { errors } = await results(tenant, batch);
    expect(errors.map((l) => [l.custom_id, l.error?.code])).toEqual(pick(customIds, omitted).map((id) => [id, 'upstream_missing_result']));
  });

  /** A batch of 30 slow lines (3 parts of 10, 200 ms a line) once the provider has finished at least two of them. */
  async function slowBatchUnderway(r: Rig): Promise<Submitted & { endedBefore: Set<string> }> {
    const submitted = await submit(r.tenant, 30);
    await waitFor(
      async () => partsOf(r.fake, submitted.batch.id).map((p) => ({ status: p.status, counts: p.request_counts })),
      (parts) => parts.some((p) => p.counts.completed >= 2),
      30_000,
    );
    const running = await r.tenant.openai.batches.retrieve(submitted.batch.id);
    expect(running.status).toBe('in_progress');
    const endedBefore = new Set(
      partsOf(r.fake, submitted.batch.id)
        .filter((p) => TERMINAL.includes(p.status))
        .map((p) => p.id),
    );
    return { ...submitted, endedBefore };
  }

  /** The provider's batches were cancelled, what it finished is in the output, every other line carries `code`. */
  async function expectStoppedWith(r: Rig, batch: OpenAI.Batch, s: Submitted & { endedBefore: Set<string> }, code: string): Promise<void> {
    const parts = partsOf(r.fake, batch.id);
    expect(r.fake.counts.cancels).toBeGreaterThanOrEqual(1);
    expect(parts.filter((p) => !s.endedBefore.has(p.id)).map((p) => p.status)).toEqual(parts.filter((p) => !s.endedBefore.has(p.id)).map(() => 'cancelled'));
    expect(parts.some((p) => p.status === 'cancelled')).toBe(true);

    const { output, errors } = await results(r.tenant, batch);
    expectEveryLineOnce(s.customIds, output, errors);
    expect(output.map((l) => l.custom_id).sort()).toEqual(finishedByProvider(r.fake, batch.id).sort());
    expect(output.length).toBeGreaterThanOrEqual(2);
    expect(errors.length).toBeGreaterThan(0);
    expectAnswers(output, s.customIds, s.contents);
    for (const line of errors) {
      expect(line).toEqual({
        id: expect.stringMatching(/^batch_req_/),
        custom_id: line.custom_id,
        response: null,
        error: { code, message: expect.any(String) },
      });
    }
    expect(batch.request_counts).toEqual({ total: 30, completed: output.length, failed: errors.length });
    expect(batch.usage).toMatchObject(sumUsage(output));
    await expectProviderFilesDeleted(r.fake);
  }

  it('cancels mid-run: cancelling, the provider batches cancelled, finished lines kept and the rest batch_cancelled', async () => {
    rig = await startRig({ maxBatchLines: 10, knobs: { lineDelayMs: 200 } });
    const s = await slowBatchUnderway(rig);

    const cancelling = await rig.tenant.openai.batches.cancel(s.batch.id);
    expect(cancelling).toMatchObject({ id: s.batch.id, status: 'cancelling', cancelling_at: expect.any(Number), cancelled_at: null });

    const batch = await untilFinished(rig.tenant, s.batch.id);
    expect(batch).toMatchObject({
      status: 'cancelled',
      cancelling_at: cancelling.cancelling_at,
      cancelled_at: expect.any(Number),
      completed_at: null,
      expired_at: null,
    });
    await expectStoppedWith(rig, batch, s, 'batch_cancelled');
  });

  it('expires mid-run: the provider batches cancelled, finished lines kept and the rest batch_expired', async () => {
    rig = await startRig({ maxBatchLines: 10, knobs: { lineDelayMs: 200 } });
    // Created a day and a minute ago by the gateway's clock: once the clock catches up, its window has passed.
    const DAY = 86_400;
    const s = await backdated(rig.gw.app, (DAY + 60) * 1000, () => slowBatchUnderway(rig!));
    const past = s.batch.expires_at!;
    expect(past).toBe(s.batch.created_at + DAY);
    expect(past).toBeLessThan(Date.now() / 1000);

    const batch = await untilFinished(rig.tenant, s.batch.id);
    expect(batch).toMatchObject({ status: 'expired', expires_at: past, expired_at: expect.any(Number), completed_at: null, cancelled_at: null });
    expect(batch.expired_at!).toBeGreaterThanOrEqual(past);
    await expectStoppedWith(rig, batch, s, 'batch_expired');
  });

  it('completes through provider poll errors: six 500s on GET /batches/{id}, every line once', async () => {
    rig = await startRig({ maxBatchLines: 10, knobs: { failPolls: 6 } });
    const { fake, tenant } = rig;
    const { batch: created, customIds, contents } = await submit(tenant, 5);

    const batch = await untilFinished(tenant, created.id);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 5, completed: 5, failed: 0 } });
    expect(fake.counts.failedPolls).toBe(6);
    expect(fake.counts.polls).toBeGreaterThan(6);
    expect(fake.batches).toHaveLength(1);
    const { output, errors } = await results(tenant, batch);
    expectEveryLineOnce(customIds, output, errors);
    expect(errors).toEqual([]);
    expectAnswers(output, customIds, contents);
  });

  it('retries failed uploads: two 503s on POST /files, then both parts run and every line is answered once', async () => {
    rig = await startRig({ maxBatchLines: 10, knobs: { failUploads: 2 } });
    const { fake, tenant } = rig;
    const { batch: created, customIds, contents } = await submit(tenant, 15);

    const batch = await untilFinished(tenant, created.id);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 15, completed: 15, failed: 0 } });
    expect(fake.counts.failedUploads).toBe(2);
    expect(fake.counts.uploads).toBe(2);
    expect(partsOf(fake, batch.id).map((p) => p.request_counts.total)).toEqual([10, 5]);
    const { output, errors } = await results(tenant, batch);
    expectEveryLineOnce(customIds, output, errors);
    expect(errors).toEqual([]);
    expectAnswers(output, customIds, contents);
  });

  it("fails only the part the provider refuses at create (token limit): its lines upstream_batch_failed with the provider's message", async () => {
    rig = await startRig({ maxBatchLines: 10 });
    const { gw, fake, tenant } = rig;
    const { batch: created, customIds, contents } = await submit(tenant, 30, (i) => (i === 14 ? ' #refuse' : ''));

    const batch = await untilFinished(tenant, created.id);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 30, completed: 20, failed: 10 } });
    const { output, errors } = await results(tenant, batch);
    expectEveryLineOnce(customIds, output, errors);
    expect(errors.map((l) => l.custom_id)).toEqual(pick(customIds, range(10, 20)));
    for (const line of errors) {
      expect(line).toMatchObject({
        custom_id: line.custom_id,
        error: { code: 'upstream_batch_failed', message: expect.stringContaining('Enqueued token limit') },
      });
    }
    expect(output.map((l) => l.custom_id)).toEqual(pick(customIds, [...range(0, 10), ...range(20, 30)]));
    expectAnswers(output, customIds, contents);
    expect(batch.usage).toMatchObject(sumUsage(output));

    expect(fake.counts.refusedCreates).toBeGreaterThanOrEqual(1);
    expect(partsOf(fake, batch.id).map((p) => p.metadata!.gateway_part)).toEqual(['1', '3']);
    const view = await adminView(gw, batch.id);
    expect(view.parts.map((p) => ({ part: p.part, firstLine: p.firstLine, lastLine: p.lastLine, state: p.state }))).toEqual([
      { part: 1, firstLine: 1, lastLine: 10, state: 'collected' },
      { part: 2, firstLine: 11, lastLine: 20, state: 'failed' },
      { part: 3, firstLine: 21, lastLine: 30, state: 'collected' },
    ]);
    expect(view.parts[1]).toMatchObject({ providerBatchId: null, error: expect.stringContaining('Enqueued token limit') });
  });

  it('fails only the part that fails validation at the provider: its lines upstream_batch_failed, the others intact', async () => {
    rig = await startRig({ maxBatchLines: 10 });
    const { gw, fake, tenant } = rig;
    const { batch: created, customIds, contents } = await submit(tenant, 30, (i) => (i === 25 ? ' #invalid' : ''));

    const batch = await untilFinished(tenant, created.id);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 30, completed: 20, failed: 10 } });
    const parts = partsOf(fake, batch.id);
    expect(parts.map((p) => p.status)).toEqual(['completed', 'completed', 'failed']);
    // the provider names line 6 of part 3's file (line 26 of ours)
    const providerMessage = parts[2].errors!.data[0].message;
    expect(providerMessage).toContain('Line 6');

    const { output, errors } = await results(tenant, batch);
    expectEveryLineOnce(customIds, output, errors);
    expect(errors.map((l) => l.custom_id)).toEqual(pick(customIds, range(20, 30)));
    for (const line of errors) {
      expect(line).toMatchObject({
        custom_id: line.custom_id,
        error: { code: 'upstream_batch_failed', message: expect.stringContaining('the request body is invalid') },
      });
    }
    expect(output.map((l) => l.custom_id)).toEqual(pick(customIds, range(0, 20)));
    expectAnswers(output, customIds, contents);

    const view = await adminView(gw, batch.id);
    expect(view.parts.map((p) => p.state)).toEqual(['collected', 'collected', 'failed']);
    expect(view.parts[2]).toMatchObject({
      firstLine: 21,
      lastLine: 30,
      providerBatchId: parts[2].id,
      providerStatus: 'failed',
      error: expect.stringContaining('the request body is invalid'),
    });
  });

  it('runs a provider without batch_api line by line on /chat/completions; the admin API shows and validates the batch settings', async () => {
    rig = await startRig({ maxBatchLines: 10 });
    const { gw, fake, tenant } = rig;
    const { batch: created, customIds, contents } = await submit(tenant, 4, undefined, REALTIME_MODEL);

    const batch = await untilFinished(tenant, created.id);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 4, completed: 4, failed: 0 } });
    const { output, errors } = await results(tenant, batch);
    expectEveryLineOnce(customIds, output, errors);
    expectAnswers(output, customIds, contents);
    expect(fake.counts.realtime).toBe(4);
    expect(fake.batches).toEqual([]);
    expect(fake.counts.uploads).toBe(0);
    expect(await adminView(gw, batch.id)).toMatchObject({ execution: 'realtime', parts: [] });

    const admin = adminClient(gw.url, gw.adminToken);
    const { providers } = await admin.query('{ providers { id batchApi batchPollIntervalMs maxBatchLines maxBatchBytes } }');
    expect(
      providers.filter((p: { id: string }) => ['batchy', 'live'].includes(p.id)).sort((a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id)),
    ).toEqual([
      { id: 'batchy', batchApi: true, batchPollIntervalMs: 100, maxBatchLines: 10, maxBatchBytes: DEFAULT_MAX_BATCH_BYTES },
      { id: 'live', batchApi: false, batchPollIntervalMs: 30_000, maxBatchLines: 50_000, maxBatchBytes: DEFAULT_MAX_BATCH_BYTES },
    ]);

    const upsert = 'mutation($p: ProviderUpsertInput!) { upsertProvider(input: $p) { id batchApi batchPollIntervalMs maxBatchLines maxBatchBytes } }';
    const base = { kind: 'openai', baseUrl: fake.url, apiKeyEnv: 'UPSTREAM_FAKE_KEY' };
    const refused = await admin.request(upsert, { p: { ...base, id: 'zero-lines', batchApi: true, maxBatchLines: 0 } });
    expect(refused.errors?.[0]?.extensions?.code).toBe('invalid_request_error');
    expect(refused.errors?.[0]?.message).toMatch(/maxBatchLines/);
    const accepted = await admin.query(upsert, {
      p: { ...base, id: 'tuned', batchApi: true, batchPollIntervalMs: 250, maxBatchLines: 5, maxBatchBytes: 4096 },
    });
    expect(accepted.upsertProvider).toEqual({ id: 'tuned', batchApi: true, batchPollIntervalMs: 250, maxBatchLines: 5, maxBatchBytes: 4096 });
    const after = await admin.query('{ providers { id } }');
    expect(after.providers.map((p: { id: string }) => p.id)).toEqual(expect.arrayContaining(['batchy', 'live', 'tuned']));
    expect(after.providers.map((p: { id: string }) => p.id)).not.toContain('zero-lines');
  });
});

describe('Provider Batch API executor across a SIGKILL', () => {
  /**
   * The gateway runs as a child process straight from the sources, so the kill is real. On the postgres
   * project the killed process's claims come back only once they lapse (about 15 s), hence the timeouts.
   */

  const API_KEY = `sk-pbkill${randomBytes(12).toString('hex')}`;
  const FINISH_TIMEOUT_MS = currentDriver() === 'postgres' ? 180_000 : 90_000;
  let fake: FakeBatchProvider | undefined;
  let gateway: ChildGateway | undefined;
  let cleanup: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await gateway?.stop('SIGKILL');
    await fake?.close();
    await cleanup?.();
    gateway = fake = cleanup = undefined;
  });

  it('adopts the provider batch it created before it was killed (found by its metadata) instead of creating it again', async () => {
    fake = await startFakeBatchProvider({ holdCreates: true });
    const environment = await testEnvironment({ BOOTSTRAP_API_KEY: API_KEY, LOG_LEVEL: 'warn', ...gatewayEnv }, routing(fake.url, 10));
    cleanup = environment.cleanup;
    gateway = new ChildGateway(environment.env);
    await gateway.start(API_KEY);
    const api = restClient(gateway, API_KEY);
    const { lines, contents, customIds } = requestLines(20);
    const created = await api.createBatch(await api.upload(jsonl(lines)));

    const f = fake;
    await waitFor(
      async () => f.createsStarted(),
      (n) => n >= 1,
      60_000,
    ).catch((err) => {
      throw new Error(`${err.message}\n${gateway?.tail()}`);
    });
    await gateway.stop('SIGKILL');
    // the provider made the batch; the gateway died before it heard so
    expect(fake.batches.length).toBeGreaterThanOrEqual(1);
    expect(fake.batches.length).toBe(fake.createsStarted());
    fake.knobs.holdCreates = false;
    fake.releaseHeldCreates();

    await gateway.start(API_KEY);
    const batch = await waitFor(
      () => api.batch(created.id),
      (b: BatchObject) => TERMINAL.includes(b.status),
      FINISH_TIMEOUT_MS,
      200,
    ).catch((err) => {
      throw new Error(`${err.message}\n${gateway?.tail()}`);
    });
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 20, completed: 20, failed: 0 } });
    const output = await api.lines(batch.output_file_id);
    const errors = await api.lines(batch.error_file_id);
    expectEveryLineOnce(customIds, output, errors);
    expect(errors).toEqual([]);
    expectAnswers(output, customIds, contents);

    // exactly one provider batch per part: the one created before the kill was found, not made again
    expect(fake.batches).toHaveLength(2);
    expect(partsOf(fake, created.id).map((p) => p.metadata!.gateway_part)).toEqual(['1', '2']);
    expect(fake.counts.lists).toBeGreaterThanOrEqual(1);
    expect(fake.counts.realtime).toBe(0);
  }, 240_000);
});
