import { randomBytes } from 'node:crypto';
import { adminClient } from './support/admin-client';
import { ProcessLayout } from './support/process-layout';
import { waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { RestClient, restClient } from './support/rest-client';

/**
 * The fair scheduler across processes: one API process and two worker processes on one PostgreSQL and
 * one Redis. Their shares of a provider's max_concurrency together reach it and never pass it, and two
 * accounts' batches on the saturated provider get even shares of what the upstream receives, though
 * each worker schedules on its own.
 *
 * Postgres project only (*.pg-e2e-spec.ts): separate api and worker processes need PostgreSQL and Redis.
 */

const MODEL = 'workers-model';
const API_KEY = `sk-workers${randomBytes(12).toString('hex')}`;
const MAX_CONCURRENCY = 40;
const LINES = 800;
const WINDOW = 300;

jest.setTimeout(180_000);

describe('Fair scheduler across worker processes', () => {
  let layout: ProcessLayout;

  beforeAll(async () => {
    layout = await ProcessLayout.create({ apiKey: API_KEY, model: MODEL, maxConcurrency: MAX_CONCURRENCY, latencyMs: 200 });
  });

  afterAll(() => layout?.stop());

  const withLogs = <T>(work: Promise<T>) => layout.withLogs(work);

  const submit = async (api: RestClient, prefix: string) =>
    api.createBatch(
      await api.upload(jsonl(Array.from({ length: LINES }, (_, i) => requestLine(i, MODEL, { messages: [{ role: 'user', content: `${prefix} ${i}` }] })))),
    );

  it('fills the provider from two workers without passing it, and splits it evenly between two accounts', async () => {
    const apiProcess = await layout.startApi(API_KEY);
    await layout.startWorkers(2);

    const admin = adminClient(apiProcess.url, layout.env.ADMIN_TOKEN);
    const { createAccount } = await admin.query<{ createAccount: { id: string } }>('mutation { createAccount(name: "workers-b") { id } }');
    const { createApiKey } = await admin.query<{ createApiKey: { secret: string } }>('mutation($id: ID!) { createApiKey(accountId: $id) { secret } }', {
      id: createAccount.id,
    });
    const [apiA, apiB] = [restClient(apiProcess, API_KEY), restClient(apiProcess, createApiKey.secret)];
    const t = randomBytes(4).toString('hex');
    const [batchA, batchB] = [await submit(apiA, `workersA ${t}`), await submit(apiB, `workersB ${t}`)];

    const start = () => layout.upstream.arrivals.findIndex((c) => c.startsWith(`workersB ${t}`));
    await withLogs(
      waitFor(
        async () => layout.upstream.arrivals.length,
        (n) => start() >= 0 && n - start() >= WINDOW,
        60_000,
      ),
    );
    const window = layout.upstream.arrivals.slice(start(), start() + WINDOW);
    const shareA = window.filter((c) => c.startsWith(`workersA ${t}`)).length / WINDOW;
    expect(shareA).toBeGreaterThanOrEqual(0.4);
    expect(shareA).toBeLessThanOrEqual(0.6);
    // Each worker holds floor(40 / 2) = 20: together exactly the provider's limit, never more.
    expect(layout.upstream.maxInFlight()).toBe(MAX_CONCURRENCY);

    for (const [api, batch] of [
      [apiA, batchA],
      [apiB, batchB],
    ] as const) {
      const ended = await withLogs(
        waitFor(
          () => api.batch(batch.id),
          (b) => b.status === 'completed',
          60_000,
          100,
        ),
      );
      expect(ended.request_counts).toEqual({ total: LINES, completed: LINES, failed: 0 });
      expect((await api.lines(ended.output_file_id)).map((l) => l.custom_id).sort()).toEqual(Array.from({ length: LINES }, (_, i) => `req-${i}`).sort());
    }
    // Each line was sent once: no two workers ever claimed the same one.
    expect(layout.upstream.totalRequests()).toBe(2 * LINES);
  });
});
