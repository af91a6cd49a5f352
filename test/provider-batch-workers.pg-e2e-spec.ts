import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { ChildGateway } from './support/child-gateway';
import { FakeBatchProvider, FakeBatchProviderKnobs, FakeProviderBatch, startFakeBatchProvider } from './support/fake-batch-provider';
import { waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { ProcessLayout } from './support/process-layout';
import { BatchObject, RestClient, restClient, ResultLine, TERMINAL } from './support/rest-client';
import { openaiProvider, RoutingFile, sku, writeRoutingFile } from './support/routing';

/**
 * The provider Batch API executor in the scale-out deployment: one API process and two worker
 * processes on one PostgreSQL and one Redis, a batch split into four parts on a fake provider whose
 * status polls are slow (so two polls of one provider batch at once would overlap at the provider).
 * Each part is created once and polled by one worker at a time; when a worker is killed holding a
 * part, the part stays its own until its heartbeat lapses (10 to 15 s), then the survivor takes it over.
 *
 * Postgres project only (*.pg-e2e-spec.ts): separate api and worker processes need PostgreSQL and Redis.
 */

const MODEL = 'pbw-model';
const UPSTREAM_MODEL = 'gpt-fake-up';
const API_KEY = `sk-pbworkers${randomBytes(12).toString('hex')}`;
const LINES = 40;
const MAX_BATCH_LINES = 10;
const PARTS = LINES / MAX_BATCH_LINES;
const POLL_INTERVAL_MS = 100;
/** How long the fake holds each status poll before answering. */
const POLL_DELAY_MS = 300;
/** A worker's heartbeat row outlives its last renewal by 15 s and is renewed every 5 s (libs/execution/src/worker-presence.ts). */
const LEASE_OUTLIVES_KILL_MS = 10_000;
const FINISH_TIMEOUT_MS = 120_000;

jest.setTimeout(240_000);

/** One provider with `batch_api` on the fake, polled every 100 ms, at most 10 lines a part. */
function routing(fakeUrl: string): RoutingFile {
  return {
    providers: [
      openaiProvider('batchy', fakeUrl, {
        api_key_env: 'UPSTREAM_FAKE_KEY',
        max_concurrency: 8,
        batch_api: true,
        batch_poll_interval_ms: POLL_INTERVAL_MS,
        max_batch_lines: MAX_BATCH_LINES,
      }),
    ],
    skus: [sku(MODEL, 'batchy', UPSTREAM_MODEL)],
  };
}

/** The provider batches made for our batch `batchId`, by part number. */
function partsOf(fake: FakeBatchProvider, batchId: string): FakeProviderBatch[] {
  return fake.batches
    .filter((b) => b.metadata?.gateway_batch_id === batchId)
    .sort((a, b) => Number(a.metadata!.gateway_part) - Number(b.metadata!.gateway_part));
}

describe('Provider Batch API executor across worker processes', () => {
  let layout: ProcessLayout | undefined;
  let fake: FakeBatchProvider | undefined;

  afterEach(async () => {
    await layout?.stop();
    await fake?.close();
    layout = fake = undefined;
  });

  /** The fake provider, then an API process and two workers whose only route is the fake's Batch API. */
  async function start(
    knobs: Partial<FakeBatchProviderKnobs>,
  ): Promise<{ fake: FakeBatchProvider; layout: ProcessLayout; api: RestClient; workers: ChildGateway[] }> {
    fake = await startFakeBatchProvider(knobs);
    // ProcessLayout also starts a fake realtime upstream and routes a model to it; its routing file is
    // replaced before any process reads it, so the upstream stays unused.
    layout = await ProcessLayout.create({ apiKey: API_KEY, model: 'pbw-unused-realtime-model', maxConcurrency: 1, latencyMs: 0 });
    writeRoutingFile(layout.env.ROUTING_FILE, routing(fake.url));
    // Info logs carry each process's pid (a worker's lease owner names it) and its part steps.
    layout.env.LOG_LEVEL = 'info';
    const api = restClient(await layout.startApi(API_KEY), API_KEY);
    const workers = await layout.startWorkers(2);
    return { fake, layout, api, workers };
  }

  async function submit(api: RestClient) {
    const t = randomBytes(4).toString('hex');
    const contents = Array.from({ length: LINES }, (_, i) => `pbw ${t} line ${i}`);
    const lines = contents.map((content, i) => requestLine(i, MODEL, { messages: [{ role: 'user', content }] }));
    const batch = await api.createBatch(await api.upload(jsonl(lines)));
    expect(batch.request_counts.total).toBe(LINES);
    return { batch, customIds: lines.map((l) => l.custom_id), contents };
  }

  const untilFinished = (l: ProcessLayout, api: RestClient, id: string): Promise<BatchObject> =>
    l.withLogs(
      waitFor(
        () => api.batch(id),
        (b) => TERMINAL.includes(b.status),
        FINISH_TIMEOUT_MS,
        100,
      ),
    );

  /** Completed, every line once in input order with the provider's answer to it. */
  async function expectEveryLineAnswered(api: RestClient, batch: BatchObject, customIds: string[], contents: string[]) {
    // the error lines first, so that a line that failed says why
    const errors = (await api.lines(batch.error_file_id)).map((l) => ({ custom_id: l.custom_id, status_code: l.response?.status_code, error: l.error }));
    expect({ status: batch.status, request_counts: batch.request_counts, errors }).toEqual({
      status: 'completed',
      request_counts: { total: LINES, completed: LINES, failed: 0 },
      errors: [],
    });
    const output: ResultLine[] = await api.lines(batch.output_file_id);
    expect(output.map((l) => l.custom_id)).toEqual(customIds);
    expect(output.map((l) => l.response?.body.choices[0].message.content)).toEqual(contents.map((c) => `echo: ${c}`));
  }

  /** Each part was created at the provider exactly once, through its Batch API only. */
  function expectEachPartCreatedOnce(f: FakeBatchProvider, batchId: string) {
    expect(f.batches).toHaveLength(PARTS);
    expect(f.createsPerPart(batchId)).toEqual(Object.fromEntries(Array.from({ length: PARTS }, (_, i) => [String(i + 1), 1])));
    expect(partsOf(f, batchId).map((p) => p.status)).toEqual(Array(PARTS).fill('completed'));
    expect(f.counts.realtime).toBe(0);
  }

  /** The workers (by name) whose logs record a step of one of our batch's parts. */
  const workersThatStepped = (workers: ChildGateway[], batchId: string) =>
    workers
      .filter((w) =>
        w.output.split('\n').some((line) => line.includes(batchId) && /"msg":"(Part submitted to the provider|Provider batch collected)"/.test(line)),
      )
      .map((w) => w.name);

  it('runs one batch on two workers: four parts, each created once and polled by one worker at a time, every line once', async () => {
    // Each worker claims due parts once a tick (every 500 ms). A poll held 300 ms, more than half a
    // tick, overlaps the other worker's next tick whatever the two ticks' phases: were a part held by
    // one worker claimable by the other, the two would poll it at once and maxConcurrentPolls say 2.
    // Provider batches of about 2 s give each part several polls.
    const { fake: f, layout: l, api } = await start({ lineDelayMs: 200, pollDelayMs: POLL_DELAY_MS });
    const { batch: created, customIds, contents } = await submit(api);

    const batch = await untilFinished(l, api, created.id);
    await expectEveryLineAnswered(api, batch, customIds, contents);
    expectEachPartCreatedOnce(f, created.id);
    expect(f.counts.polls).toBeGreaterThanOrEqual(2 * PARTS);
    expect(f.maxConcurrentPolls()).toBe(1);
  });

  it('finishes when a worker holding a part is killed: the survivor takes the part over once its heartbeat lapses, nothing created twice', async () => {
    // 10 lines of 300 ms: each provider batch runs about 3 s
    const { fake: f, layout: l, api, workers } = await start({ lineDelayMs: 300, pollDelayMs: POLL_DELAY_MS });
    const { batch: created, customIds, contents } = await submit(api);

    await l.withLogs(
      waitFor(
        async () => partsOf(f, created.id).filter((p) => p.status === 'in_progress').length,
        (n) => n >= 2,
        60_000,
      ),
    );
    // Slow polls from now on: a worker found polling a part goes on holding it for about 2 s.
    const slowSince = Date.now();
    f.knobs.pollDelayMs = 2_000;
    const db = new Client({ connectionString: l.env.DATABASE_URL });
    await db.connect();
    try {
      const leased = async () =>
        (
          await db.query<{ part: number; provider_batch_id: string | null; lease_owner: string }>(
            'SELECT part, provider_batch_id, lease_owner FROM provider_batches WHERE batch_id = $1 AND lease_owner IS NOT NULL',
            [created.id],
          )
        ).rows;
      // A part whose worker's slow poll has just reached the provider.
      const held = await l.withLogs(
        waitFor(
          async () =>
            (await leased()).find((r) => {
              const remote = f.batches.find((b) => b.id === r.provider_batch_id);
              const arrived = remote?.polledAt[remote.polledAt.length - 1] ?? 0;
              return f.pollsInFlight(r.provider_batch_id ?? '') > 0 && arrived >= slowSince && Date.now() - arrived < 500;
            }) ?? null,
          (r) => r !== null,
          30_000,
          20,
        ),
      );
      // The lease names the worker process (host:pid:token); only this test's workers use this database.
      const pid = Number(/:(\d+):[^:]+$/.exec(held!.lease_owner)?.[1]);
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('apps/worker/src/main.ts');
      process.kill(pid, 'SIGKILL');
      const victim = await l.withLogs(
        waitFor(
          async () => workers.find((w) => !w.running) ?? null,
          (w) => w !== null,
          10_000,
          10,
        ),
      );
      const killedAt = Date.now();
      // the killed worker still holds the part: nobody may poll it until its heartbeat lapses
      expect((await leased()).filter((r) => r.part === held!.part).map((r) => r.lease_owner)).toEqual([held!.lease_owner]);
      f.knobs.pollDelayMs = POLL_DELAY_MS;

      const batch = await untilFinished(l, api, created.id);
      await expectEveryLineAnswered(api, batch, customIds, contents);
      expectEachPartCreatedOnce(f, created.id);
      expect(f.maxConcurrentPolls()).toBe(1);

      // the survivor polled the dead worker's part only after the dead worker's heartbeat had lapsed
      const heldRemote = f.batches.find((b) => b.id === held!.provider_batch_id)!;
      const pollsAfterKill = heldRemote.polledAt.filter((t) => t > killedAt);
      expect(pollsAfterKill.length).toBeGreaterThan(0);
      expect(pollsAfterKill[0] - killedAt).toBeGreaterThanOrEqual(LEASE_OUTLIVES_KILL_MS - 1_000);
      const survivor = workers.find((w) => w !== victim)!;
      expect(workers.filter((w) => !w.running).map((w) => w.name)).toEqual([victim!.name]);
      expect(survivor.running).toBe(true);
      expect(workersThatStepped([survivor], created.id)).toEqual([survivor.name]);
      expect(survivor.output).toMatch(new RegExp(`"batchId":"${created.id}","part":${held!.part},[^\\n]*"msg":"Provider batch collected"`));
    } finally {
      await db.end();
    }
  });
});
