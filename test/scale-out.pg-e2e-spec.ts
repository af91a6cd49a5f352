import { randomBytes } from 'node:crypto';
import { waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { ProcessLayout } from './support/process-layout';
import { restClient, TERMINAL } from './support/rest-client';

/**
 * The scale-out deployment of docs/operations.md, as real processes on one PostgreSQL, one Redis and
 * one DATA_DIR: an API process (ROLE=api, HTTP only) and two worker processes (apps/worker). One
 * worker is killed with SIGKILL in the middle of a batch; the lines it had claimed come back when
 * their leases run out (15 s without renewal) and the survivor finishes the batch. The provider's
 * max_concurrency is shared out between the live workers, so the upstream never sees more than it.
 *
 * Postgres project only (*.pg-e2e-spec.ts): separate api and worker processes need PostgreSQL and Redis.
 */

const MODEL = 'scale-model';
const API_KEY = `sk-scale${randomBytes(12).toString('hex')}`;
const LINES = 4000;
const MAX_CONCURRENCY = 16;
/** The most answers a worker holds before writing them (libs/execution/src/realtime/result-buffer.ts). */
const RESULT_FLUSH_ROWS = 500;
const FINISH_TIMEOUT_MS = 90_000;

jest.setTimeout(180_000);

/** Every 50th line is refused by the upstream (400: an error line), every 97th fails once with 500 first (a retry). */
function requestLines(count: number) {
  return Array.from({ length: count }, (_, i) => {
    let content = `scale-out line ${i}`;
    if (i % 50 === 49) content += ' #status=400';
    else if (i % 97 === 96) content += ' #status=500x1';
    return requestLine(i, MODEL, { messages: [{ role: 'user', content }] });
  });
}

describe('Scale-out', () => {
  let layout: ProcessLayout;

  beforeAll(async () => {
    layout = await ProcessLayout.create({ apiKey: API_KEY, model: MODEL, maxConcurrency: MAX_CONCURRENCY, latencyMs: 8 });
  });

  afterAll(() => layout?.stop());

  const withLogs = <T>(work: Promise<T>) => layout.withLogs(work);

  it('runs a batch on an API process and two workers, one killed mid-run: every line exactly once, within max_concurrency', async () => {
    const api = restClient(await layout.startApi(API_KEY), API_KEY);
    const lines = requestLines(LINES);

    // The API process alone takes uploads and creates batches, but nothing runs: a batch waits in
    // validating, and a cancel gets as far as cancelling, until a worker finishes it.
    const early = await api.createBatch(await api.upload(jsonl(requestLines(10))));
    const inputFileId = await api.upload(jsonl(lines));
    expect(early).toMatchObject({ status: 'validating', request_counts: { total: 10, completed: 0, failed: 0 } });
    await new Promise((r) => setTimeout(r, 500)); // a window in which nothing may happen
    expect((await api.batch(early.id)).status).toBe('validating');
    expect((await api.cancel(early.id)).status).toBe('cancelling');
    expect(layout.upstream.totalRequests()).toBe(0);

    // Both workers have announced themselves before the measured batch exists, so each takes its half
    // of max_concurrency from its first request (a worker that joins later is not what this checks).
    const [victim] = await layout.startWorkers(2);
    const cancelled = await withLogs(
      waitFor(
        () => api.batch(early.id),
        (b) => b.status === 'cancelled',
        FINISH_TIMEOUT_MS,
        100,
      ),
    );
    expect(cancelled.request_counts).toEqual({ total: 10, completed: 0, failed: 10 });
    expect((await api.lines(cancelled.error_file_id)).map((l) => l.error?.code)).toEqual(Array(10).fill('batch_cancelled'));
    expect(layout.upstream.totalRequests()).toBe(0);

    const created = await api.createBatch(inputFileId);
    expect(created.request_counts.total).toBe(LINES);

    const beforeKill = await withLogs(
      waitFor(
        () => api.batch(created.id),
        (b) => b.request_counts.completed > LINES / 10 || !['validating', 'in_progress'].includes(b.status),
        FINISH_TIMEOUT_MS,
        20,
      ),
    );
    await victim.stop('SIGKILL');
    expect(beforeKill.status).toBe('in_progress');
    expect(beforeKill.request_counts.completed + beforeKill.request_counts.failed).toBeLessThan(LINES / 2);

    const finished = await withLogs(
      waitFor(
        () => api.batch(created.id),
        (b) => TERMINAL.includes(b.status),
        FINISH_TIMEOUT_MS,
        200,
      ),
    );
    expect(finished.status).toBe('completed');

    const output = await api.lines(finished.output_file_id);
    const errors = await api.lines(finished.error_file_id);
    const refused = lines.filter((l) => JSON.stringify(l).includes('#status=400')).map((l) => l.custom_id);
    const retried = lines.filter((l) => JSON.stringify(l).includes('#status=500x1')).length;

    const seen = [...output, ...errors].map((l) => l.custom_id);
    expect(seen).toHaveLength(LINES);
    expect(new Set(seen)).toEqual(new Set(lines.map((l) => l.custom_id)));
    expect(finished.request_counts).toEqual({ total: LINES, completed: LINES - refused.length, failed: refused.length });
    expect(output).toHaveLength(finished.request_counts.completed);
    expect(errors).toHaveLength(finished.request_counts.failed);
    expect(errors.map((l) => l.custom_id).sort()).toEqual([...refused].sort());
    const contentOf = new Map(lines.map((l) => [l.custom_id, (l.body.messages as { content: string }[])[0].content]));
    expect(output.filter((l) => l.response?.body.choices[0].message.content !== `echo: ${contentOf.get(l.custom_id)}`)).toEqual([]);

    // Requests the kill cut off are sent again: those in flight, and those answered but not yet recorded
    // (results are written every 250 ms or 500 rows). Lines it had claimed and not sent were never sent.
    expect(layout.upstream.totalRequests()).toBeGreaterThanOrEqual(LINES + retried);
    expect(layout.upstream.totalRequests()).toBeLessThanOrEqual(LINES + retried + MAX_CONCURRENCY + RESULT_FLUSH_ROWS);
    // Each worker's share is floor(max / live workers); the dead one stays counted for a while, which only lowers it.
    expect(layout.upstream.maxInFlight()).toBeLessThanOrEqual(MAX_CONCURRENCY);
  });
});
