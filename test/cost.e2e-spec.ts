import { costMicros, formatMicros, utcDay } from '@app/core';
import { adminClient, AdminClient } from './support/admin-client';
import { FakeBatchProvider, startFakeBatchProvider } from './support/fake-batch-provider';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { startGateway, Tenant, TestGateway, waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { rest, restClient, ResultLine } from './support/rest-client';
import { fileLines, PREFIXES, unwrap, untilFinished } from './support/sdk';

/**
 * Cost end to end, on both drivers: each line's cost is its reported usage at the prices locked on the
 * batch at create (less the SKU's batch discount on a provider's Batch API), the batch's cost is the
 * sum of its lines', shown under both envelopes and in the admin API; Prometheus counts tokens and cost;
 * a monthly spend limit refuses a create whose estimate would pass it (nothing left behind) and stops a
 * running batch when reached, its remaining lines ending with spend_limit_reached; the usage report sums
 * what was recorded. (Exactly once under kill -9: cost-crash.e2e-spec.ts.)
 */

jest.setTimeout(120_000);

const INPUT_PRICE = 2.5;
const OUTPUT_PRICE = 10;
/** The fake upstream reports 10 prompt and 5 completion tokens for every chat completion. */
const LINE_COST = costMicros(10, 5, INPUT_PRICE, OUTPUT_PRICE);

describe('Cost', () => {
  let gw: TestGateway;
  let upstream: FakeUpstream;
  let provider: FakeBatchProvider;
  let admin: AdminClient;

  beforeAll(async () => {
    upstream = await startFakeUpstream({ latencyMs: 20 });
    provider = await startFakeBatchProvider({ lineDelayMs: 0 });
    gw = await startGateway({ UPSTREAM_FAKE_KEY: 'sk-cost-test' });
    admin = adminClient(gw.url, gw.adminToken);
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await provider?.close();
  });

  let routes = 0;
  /** A fresh model routed to the fake upstream (realtime) or the fake provider's Batch API, with prices. */
  async function pricedModel(opts: { batchApi?: boolean; batchDiscount?: number; maxConcurrency?: number } = {}): Promise<string> {
    routes += 1;
    const id = `cost-${routes}`;
    await admin.query('mutation($p: ProviderUpsertInput!) { upsertProvider(input: $p) { id } }', {
      p: {
        id,
        kind: 'openai',
        baseUrl: opts.batchApi ? provider.url : upstream.url,
        apiKeyEnv: 'UPSTREAM_FAKE_KEY',
        maxConcurrency: opts.maxConcurrency ?? 8,
        ...(opts.batchApi ? { batchApi: true, batchPollIntervalMs: 100 } : {}),
      },
    });
    await admin.query('mutation($s: SkuUpsertInput!) { upsertSku(input: $s) { id } }', {
      s: {
        id: `${id}@${id}`,
        model: `${id}-model`,
        providerId: id,
        upstreamModel: 'gpt-fake-up',
        inputPricePerMtok: INPUT_PRICE,
        outputPricePerMtok: OUTPUT_PRICE,
        ...(opts.batchDiscount === undefined ? {} : { batchDiscount: opts.batchDiscount }),
      },
    });
    return `${id}-model`;
  }

  async function runBatch(tenant: Tenant, model: string, lines: number) {
    const client = restClient(gw, tenant.apiKey);
    const fileId = await client.upload(jsonl(Array.from({ length: lines }, (_, i) => requestLine(i, model))));
    const created = await client.createBatch(fileId);
    return { created, done: await untilFinished(tenant, created.id) };
  }

  async function lineCosts(batchId: string): Promise<number[]> {
    const rows: { cost_micros: string | number }[] = await gw.dataSource.query(
      `SELECT cost_micros FROM batch_requests WHERE batch_id = ${gw.config.databaseUrl ? '$1' : '?'} ORDER BY line`,
      [batchId],
    );
    return rows.map((r) => Number(r.cost_micros));
  }

  async function setSpendLimit(accountId: string, amount: string | null): Promise<void> {
    await admin.query('mutation($a: ID!, $m: String) { setAccountSpendLimit(accountId: $a, amount: $m) { id } }', { a: accountId, m: amount });
  }

  it('costs each line at the prices locked at create and the batch at their sum, under both envelopes and in the admin API', async () => {
    const tenant = await gw.newTenant('cost-lines');
    const model = await pricedModel();
    const { created, done } = await runBatch(tenant, model, 20);
    expect(done.status).toBe('completed');

    expect(await lineCosts(created.id)).toEqual(Array(20).fill(LINE_COST));
    const expected = { currency: 'USD', amount: formatMicros(20 * LINE_COST) };
    for (const prefix of PREFIXES) {
      const batch = unwrap(await rest(gw, tenant.apiKey, 'GET', `${prefix}/batches/${created.id}`), prefix);
      expect({ prefix, cost: batch.cost, usage: batch.usage.input_tokens }).toEqual({ prefix, cost: expected, usage: 200 });
    }
    const { batch } = await admin.query('query($id: ID!) { batch(id: $id) { cost { currency amount } } }', { id: created.id });
    expect(batch.cost).toEqual(expected);
  });

  it('keeps the prices locked at create when the SKU is repriced while the batch runs', async () => {
    const tenant = await gw.newTenant('cost-lock');
    const model = await pricedModel({ maxConcurrency: 1 });
    const client = restClient(gw, tenant.apiKey);
    const fileId = await client.upload(jsonl(Array.from({ length: 10 }, (_, i) => requestLine(i, model))));
    const created = await client.createBatch(fileId);
    const id = model.replace(/-model$/, '');
    await admin.query('mutation($s: SkuUpsertInput!) { upsertSku(input: $s) { id } }', {
      s: { id: `${id}@${id}`, model, providerId: id, upstreamModel: 'gpt-fake-up', inputPricePerMtok: 1000, outputPricePerMtok: 1000 },
    });
    const done = await untilFinished(tenant, created.id);
    expect((done as unknown as { cost: unknown }).cost).toEqual({ currency: 'USD', amount: formatMicros(10 * LINE_COST) });
    const { batch } = await admin.query('query($id: ID!) { batch(id: $id) { inputPricePerMtok outputPricePerMtok } }', { id: created.id });
    expect(batch).toEqual({ inputPricePerMtok: INPUT_PRICE, outputPricePerMtok: OUTPUT_PRICE });
  });

  it("applies the SKU's batch discount when the route runs on the provider's Batch API", async () => {
    const tenant = await gw.newTenant('cost-discount');
    const model = await pricedModel({ batchApi: true, batchDiscount: 0.5 });
    const { created, done } = await runBatch(tenant, model, 6);
    expect(done.status).toBe('completed');
    const output: ResultLine[] = await fileLines(tenant, done.output_file_id);
    expect(output).toHaveLength(6);
    // Each line at half of both prices, from the usage the provider reported for it.
    const byLine = new Map(output.map((l) => [Number(l.custom_id.slice('req-'.length)), l.response!.body.usage]));
    const expected = [...byLine.keys()]
      .sort((a, b) => a - b)
      .map((i) => costMicros(byLine.get(i).prompt_tokens, byLine.get(i).completion_tokens ?? 0, INPUT_PRICE * 0.5, OUTPUT_PRICE * 0.5));
    expect(await lineCosts(created.id)).toEqual(expected);
    const sum = expected.reduce((a, b) => a + b, 0);
    expect(sum).toBeGreaterThan(0);
    expect((done as unknown as { cost: unknown }).cost).toEqual({ currency: 'USD', amount: formatMicros(sum) });
    const { batch } = await admin.query('query($id: ID!) { batch(id: $id) { execution inputPricePerMtok outputPricePerMtok } }', { id: created.id });
    expect(batch).toEqual({ execution: 'provider_batch', inputPricePerMtok: INPUT_PRICE * 0.5, outputPricePerMtok: OUTPUT_PRICE * 0.5 });
  });

  it('counts tokens and cost per account, model and provider in Prometheus', async () => {
    const tenant = await gw.newTenant('cost-metrics');
    const model = await pricedModel();
    await runBatch(tenant, model, 4);
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const provider = model.replace(/-model$/, '');
    const labels = `account="${tenant.accountId}",model="${model}",provider="${provider}"`;
    const value = (series: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(`${series} `))
          ?.slice(series.length + 1),
      );
    expect(value(`batch_gateway_tokens_total{${labels},kind="prompt"}`)).toBe(40);
    expect(value(`batch_gateway_tokens_total{${labels},kind="completion"}`)).toBe(20);
    expect(value(`batch_gateway_cost_total{${labels},currency="USD"}`)).toBeCloseTo((4 * LINE_COST) / 1_000_000, 9);
  });

  it('refuses a create whose estimated cost would pass the monthly spend limit with 429, leaving nothing behind', async () => {
    const tenant = await gw.newTenant('cost-refused');
    const model = await pricedModel();
    await setSpendLimit(tenant.accountId, '0.000010');
    const client = restClient(gw, tenant.apiKey);
    const fileId = await client.upload(jsonl(Array.from({ length: 5 }, (_, i) => requestLine(i, model))));
    for (const prefix of PREFIXES) {
      const res = await rest(gw, tenant.apiKey, 'POST', `${prefix}/batches`, {
        input_file_id: fileId,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      expect(res.status).toBe(429);
      const code = prefix === '/v1' ? res.body.error.code : res.body.code;
      expect({ prefix, code }).toEqual({ prefix, code: 'spend_limit_exceeded' });
    }
    const list = await rest(gw, tenant.apiKey, 'GET', '/v1/batches');
    expect(list.body.data).toEqual([]);

    // Without the limit the same file runs.
    await setSpendLimit(tenant.accountId, null);
    const created = await client.createBatch(fileId);
    expect((await untilFinished(tenant, created.id)).status).toBe('completed');
  });

  it('counts what unfinished batches may still cost at create: two batches that each fit the limit cannot both be enqueued', async () => {
    const tenant = await gw.newTenant('cost-reserved');
    const model = await pricedModel({ maxConcurrency: 1 });
    const client = restClient(gw, tenant.apiKey);
    const fileId = await client.upload(jsonl(Array.from({ length: 300 }, (_, i) => requestLine(i, model))));
    const counted = await waitFor(
      async () => unwrap(await rest(gw, tenant.apiKey, 'GET', `/v1/files/${fileId}`), '/v1'),
      (f: { input_tokens_estimate: number | null }) => f.input_tokens_estimate !== null,
    );
    const estimate = costMicros(Number(counted.input_tokens_estimate), 0, INPUT_PRICE, null);
    // Room for one batch's estimate and a half: the first fits, the second would pass the limit only with the first's share.
    await setSpendLimit(tenant.accountId, formatMicros(Math.floor(estimate * 1.5)));
    const first = await client.createBatch(fileId);
    const second = await rest(gw, tenant.apiKey, 'POST', '/v1/batches', { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' });
    expect(second.status).toBe(429);
    expect(second.body.error.code).toBe('spend_limit_exceeded');
    expect(second.body.error.message).toContain('its unfinished batches may cost');
    const list = await rest(gw, tenant.apiKey, 'GET', '/v1/batches');
    expect(list.body.data.map((b: { id: string }) => b.id)).toEqual([first.id]);
    await rest(gw, tenant.apiKey, 'POST', `/v1/batches/${first.id}/cancel`);
    expect((await untilFinished(tenant, first.id)).status).toBe('cancelled');
  });

  it('stops a running batch when the account reaches its spend limit: the rest end with spend_limit_reached, every line once', async () => {
    const tenant = await gw.newTenant('cost-limit');
    const model = await pricedModel({ maxConcurrency: 2 });
    const total = 200;
    const client = restClient(gw, tenant.apiKey);
    const fileId = await client.upload(jsonl(Array.from({ length: total }, (_, i) => requestLine(i, model))));
    const created = await client.createBatch(fileId);
    // Set once the batch exists: room for 10 of its lines, reached while it runs (2 at a time, 20 ms each).
    const limit = 10 * LINE_COST;
    await setSpendLimit(tenant.accountId, formatMicros(limit));
    const done = await untilFinished(tenant, created.id);

    expect(done.status).toBe('cancelled');
    expect(done.errors?.data?.map((e) => e.code)).toEqual(['spend_limit_reached']);
    const output = await fileLines(tenant, done.output_file_id);
    const errors = await fileLines(tenant, done.error_file_id);
    expect(output.length).toBeGreaterThanOrEqual(10);
    expect(errors.length).toBeGreaterThan(0);
    expect(output.length + errors.length).toBe(total);
    expect(new Set([...output, ...errors].map((l) => l.custom_id)).size).toBe(total);
    expect(new Set(errors.map((l) => l.error?.code))).toEqual(new Set(['spend_limit_reached']));
    expect(done.request_counts).toEqual({ total, completed: output.length, failed: errors.length });
    expect((done as unknown as { cost: unknown }).cost).toEqual({ currency: 'USD', amount: formatMicros(output.length * LINE_COST) });

    const { accounts } = await admin.query('{ accounts { id monthlySpendLimit { currency amount } monthToDateSpend { currency amount } } }');
    const account = accounts.find((a: { id: string }) => a.id === tenant.accountId);
    expect(account).toEqual({
      id: tenant.accountId,
      monthlySpendLimit: { currency: 'USD', amount: formatMicros(limit) },
      monthToDateSpend: { currency: 'USD', amount: formatMicros(output.length * LINE_COST) },
    });

    // Over the limit now: the next create is refused whatever its estimate.
    const again = await rest(gw, tenant.apiKey, 'POST', '/v1/batches', { input_file_id: created.input_file_id, endpoint: '/v1/chat/completions' });
    expect(again.status).toBe(429);
  });

  it('reports usage and cost by account, model and day', async () => {
    const tenant = await gw.newTenant('cost-report');
    const model = await pricedModel();
    await runBatch(tenant, model, 3);
    await runBatch(tenant, model, 2);
    const today = utcDay(Math.floor(Date.now() / 1000));
    const query = `query($i: UsageReportInput!) { usageReport(input: $i) {
      groupBy totalCost { currency amount } truncated
      rows { accountId model day providerId requests promptTokens completionTokens cachedTokens cost { currency amount } } } }`;
    const { usageReport } = await admin.query(query, { i: { from: today, to: today, accountId: tenant.accountId } });
    expect(usageReport).toEqual({
      groupBy: ['account', 'model', 'day'],
      totalCost: { currency: 'USD', amount: formatMicros(5 * LINE_COST) },
      truncated: false,
      rows: [
        {
          accountId: tenant.accountId,
          model,
          day: today,
          providerId: null,
          requests: 5,
          promptTokens: 50,
          completionTokens: 25,
          cachedTokens: 10,
          cost: { currency: 'USD', amount: formatMicros(5 * LINE_COST) },
        },
      ],
    });
    const byModel = await admin.query(query, { i: { from: '2000-01-01', to: '2999-12-31', groupBy: ['model'] } });
    expect(byModel.usageReport.rows).toContainEqual(expect.objectContaining({ accountId: null, model, day: null, requests: 5 }));
    const none = await admin.query(query, { i: { from: '2000-01-01', to: '2000-01-31', accountId: tenant.accountId } });
    expect(none.usageReport.rows).toEqual([]);
  });
});
