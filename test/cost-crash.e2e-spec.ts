import { costMicros, formatMicros, utcDay } from '@app/core';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { adminClient } from './support/admin-client';
import { ChildGateway } from './support/child-gateway';
import { FakeUpstream, pricedRouting, startFakeUpstream } from './support/fake-upstream';
import { writeRoutingFile } from './support/routing';
import { testEnvironment, waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { restClient } from './support/rest-client';

/**
 * Cost exactly once under kill -9: a gateway killed with SIGKILL mid-batch (a child process, so no
 * shutdown hook runs) and started again on the same data resends the lines it had in flight, yet each
 * line is costed once, because its cost is written in the transaction that takes it out of pending:
 * the batch's cost, and the usage ledger's requests and tokens, equal those of the lines, not of the
 * requests sent.
 */

const MODEL = 'cost-crash-model';
const API_KEY = `sk-costcrash${randomBytes(12).toString('hex')}`;
const LINE_COST = costMicros(10, 5, 2.5, 10);

jest.setTimeout(240_000);

describe('Cost across a crash', () => {
  let upstream: FakeUpstream;
  let gateway: ChildGateway | null = null;
  let cleanup: (() => Promise<void>) | null = null;

  afterEach(async () => {
    await gateway?.stop('SIGKILL');
    await upstream?.close();
    await cleanup?.();
  });

  it('counts the cost of every line exactly once when the gateway is killed mid-batch and restarted', async () => {
    upstream = await startFakeUpstream({ latencyMs: 25 });
    const environment = await testEnvironment({ LOG_LEVEL: 'warn', BOOTSTRAP_API_KEY: API_KEY, UPSTREAM_FAKE_KEY: 'fake-key' });
    cleanup = environment.cleanup;
    const env = environment.env;
    env.ROUTING_FILE = join(env.DATA_DIR, 'routing.yaml');
    writeRoutingFile(
      env.ROUTING_FILE,
      pricedRouting(upstream.url, { model: MODEL, maxConcurrency: 8 }, { input_price_per_mtok: 2.5, output_price_per_mtok: 10 }),
    );
    gateway = new ChildGateway(env);
    await gateway.start(API_KEY, 60_000);
    const api = restClient(gateway, API_KEY);
    const lines = Array.from({ length: 1000 }, (_, i) => requestLine(i, MODEL));
    const created = await api.createBatch(await api.upload(jsonl(lines)));

    const beforeKill = await waitFor(
      () => api.batch(created.id),
      (b) => b.request_counts.completed > 0 || !['validating', 'in_progress'].includes(b.status),
      120_000,
      20,
    );
    await gateway.stop('SIGKILL');
    expect(beforeKill.status).toBe('in_progress');
    expect(beforeKill.request_counts.completed).toBeLessThan(lines.length / 2);

    await gateway.start(API_KEY, 60_000);
    const done = await waitFor(
      () => api.batch(created.id),
      (b) => ['completed', 'failed', 'expired', 'cancelled'].includes(b.status),
      120_000,
      200,
    );
    expect(done.status).toBe('completed');
    expect(done.request_counts).toEqual({ total: lines.length, completed: lines.length, failed: 0 });
    // Some lines were sent twice (in flight at the kill); none is costed twice.
    expect(upstream.totalRequests()).toBeGreaterThan(lines.length);
    expect((done as unknown as { cost: unknown }).cost).toEqual({ currency: 'USD', amount: formatMicros(lines.length * LINE_COST) });
    expect(done.usage.input_tokens).toBe(lines.length * 10);

    const admin = adminClient(gateway.url, env.ADMIN_TOKEN);
    const today = utcDay(Math.floor(Date.now() / 1000));
    const { usageReport } = await admin.query(
      'query($i: UsageReportInput!) { usageReport(input: $i) { rows { model requests promptTokens completionTokens cost { amount } } } }',
      { i: { from: today, to: today, groupBy: ['model'] } },
    );
    expect(usageReport.rows).toEqual([
      {
        model: MODEL,
        requests: lines.length,
        promptTokens: lines.length * 10,
        completionTokens: lines.length * 5,
        cost: { amount: formatMicros(lines.length * LINE_COST) },
      },
    ]);
  });
});
