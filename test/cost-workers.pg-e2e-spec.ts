import { costMicros, formatMicros } from '@app/core';
import { randomBytes } from 'node:crypto';
import { adminClient } from './support/admin-client';
import { pricedRouting } from './support/fake-upstream';
import { writeRoutingFile } from './support/routing';
import { waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { restClient } from './support/rest-client';
import { ProcessLayout } from './support/process-layout';

/**
 * A monthly spend limit across processes: one API process and two worker processes on one PostgreSQL.
 * Each worker records its own lines' costs; the month-to-date spend they check is the database's, so
 * when the account reaches its limit both of its running batches stop, on whichever worker, and every
 * line of both ends exactly once, the unfinished ones with spend_limit_reached.
 *
 * Postgres project only (*.pg-e2e-spec.ts): separate api and worker processes need PostgreSQL and Redis.
 */

const MODEL = 'spend-workers-model';
const API_KEY = `sk-spendwk${randomBytes(12).toString('hex')}`;
const LINES = 300;
const LINE_COST = costMicros(10, 5, 2.5, 10);

jest.setTimeout(180_000);

describe('Spend limit across worker processes', () => {
  let layout: ProcessLayout;

  beforeAll(async () => {
    layout = await ProcessLayout.create({ apiKey: API_KEY, model: MODEL, maxConcurrency: 8, latencyMs: 50 });
    writeRoutingFile(
      layout.env.ROUTING_FILE,
      pricedRouting(layout.upstream.url, { model: MODEL, maxConcurrency: 8 }, { input_price_per_mtok: 2.5, output_price_per_mtok: 10 }),
    );
  });

  afterAll(() => layout?.stop());

  it("stops every running batch of the account on every worker once the database's month-to-date spend reaches the limit", async () => {
    const apiProcess = await layout.startApi(API_KEY);
    await layout.startWorkers(2);
    const admin = adminClient(apiProcess.url, layout.env.ADMIN_TOKEN);
    const api = restClient(apiProcess, API_KEY);
    const { accounts } = await admin.query<{ accounts: { id: string }[] }>('{ accounts { id } }');
    const accountId = accounts[0].id;

    const batches = [];
    for (const tag of ['a', 'b']) {
      const lines = Array.from({ length: LINES }, (_, i) => requestLine(i, MODEL, { messages: [{ role: 'user', content: `${tag} ${i}` }] }));
      batches.push(await api.createBatch(await api.upload(jsonl(lines))));
    }
    // Set once both exist: room for 40 lines, reached while they run (8 at a time, 50 ms each).
    const limit = 40 * LINE_COST;
    await admin.query('mutation($a: ID!, $m: String) { setAccountSpendLimit(accountId: $a, amount: $m) { id } }', { a: accountId, m: formatMicros(limit) });

    const ended = await layout.withLogs(
      Promise.all(
        batches.map((b) =>
          waitFor(
            () => api.batch(b.id),
            (x) => ['completed', 'failed', 'expired', 'cancelled'].includes(x.status),
            120_000,
            200,
          ),
        ),
      ),
    );
    let completed = 0;
    for (const done of ended) {
      expect(done.status).toBe('cancelled');
      expect(done.errors?.data.map((e) => e.code)).toEqual(['spend_limit_reached']);
      const output = await api.lines(done.output_file_id);
      const errors = await api.lines(done.error_file_id);
      expect(output.length + errors.length).toBe(LINES);
      expect(new Set([...output, ...errors].map((l) => l.custom_id)).size).toBe(LINES);
      expect(new Set(errors.map((l) => l.error?.code))).toEqual(new Set(['spend_limit_reached']));
      expect(done.request_counts).toEqual({ total: LINES, completed: output.length, failed: errors.length });
      completed += output.length;
    }
    expect(completed).toBeGreaterThanOrEqual(40);
    expect(completed).toBeLessThan(2 * LINES);

    const { accounts: after } = await admin.query<{ accounts: { id: string; monthToDateSpend: { amount: string } }[] }>(
      '{ accounts { id monthToDateSpend { amount } } }',
    );
    expect(after.find((a) => a.id === accountId)?.monthToDateSpend.amount).toBe(formatMicros(completed * LINE_COST));
  });
});
