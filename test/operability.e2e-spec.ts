import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toFile } from 'openai';
import { adminClient } from './support/admin-client';
import { ChildGateway } from './support/child-gateway';
import { FakeUpstream, fakeRouting, startFakeUpstream } from './support/fake-upstream';
import { startGateway, testEnvironment, TestGateway, waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { startWebhookReceiver } from './support/webhook-receiver';

jest.setTimeout(120_000);

const MODEL = 'ops-model';

function routingFile(upstream: FakeUpstream): string {
  const path = join(mkdtempSync(join(tmpdir(), 'bg-ops-')), 'routing.yaml');
  writeFileSync(path, fakeRouting(upstream.url, { model: MODEL, maxConcurrency: 4 }));
  return path;
}

/** One sample of a Prometheus text exposition, or 0 when the series is absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

async function scrape(gw: { url: string }): Promise<string> {
  const res = await fetch(`${gw.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
}

describe('Operability', () => {
  let upstream: FakeUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startFakeUpstream({ latencyMs: 20 });
    gw = await startGateway({ ROUTING_FILE: routingFile(upstream), FAKE_UPSTREAM_KEY: 'sk-upstream-ops', CHUNK_SIZE: '10', UPSTREAM_MAX_ATTEMPTS: '3' });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('answers /healthz and /readyz without a key, with every dependency up and nothing secret', async () => {
    const live = await fetch(`${gw.url}/healthz`);
    expect(live.status).toBe(200);
    expect(await live.json()).toMatchObject({ status: 'ok' });
    const ready = await fetch(`${gw.url}/readyz`);
    const body = await ready.text();
    expect(ready.status).toBe(200);
    expect(JSON.parse(body)).toMatchObject({
      status: 'ok',
      details: { database: { status: 'up' }, queue: { status: 'up' }, storage: { status: 'up' } },
    });
    expect(body).not.toContain(gw.adminToken);
    if (gw.config.databaseUrl) expect(body).not.toContain(gw.config.databaseUrl);
  });

  it('shows the counters moving in a Prometheus scrape while a batch runs', async () => {
    const tenant = await gw.newTenant();
    const lines = Array.from({ length: 120 }, (_, i) => requestLine(i, MODEL));
    lines[0].body.messages = [{ role: 'user', content: 'ops retry #status=500x1' }];
    const file = await tenant.openai.files.create({ file: await toFile(Buffer.from(jsonl(lines)), 'ops.jsonl'), purpose: 'batch' });
    const before = await scrape(gw);
    const succeeded = 'batch_gateway_upstream_requests_total{provider="fake",outcome="succeeded"}';
    const batch = await tenant.openai.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });

    await waitFor(() => tenant.openai.batches.retrieve(batch.id), (b) => b.status === 'in_progress' && (b.request_counts?.completed ?? 0) > 0);
    const during = await scrape(gw);
    expect(sample(during, succeeded)).toBeGreaterThan(sample(before, succeeded));
    expect(sample(during, 'batch_gateway_batches{status="in_progress"}')).toBeGreaterThanOrEqual(1);

    await waitFor(() => tenant.openai.batches.retrieve(batch.id), (b) => b.status === 'completed');
    const after = await scrape(gw);
    expect(sample(after, succeeded) - sample(before, succeeded)).toBe(120);
    expect(sample(after, 'batch_gateway_upstream_requests_total{provider="fake",outcome="retried"}')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'batch_gateway_upstream_latency_seconds_count{provider="fake"}')).toBeGreaterThanOrEqual(121);
    expect(sample(after, 'batch_gateway_batches{status="completed"}')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'batch_gateway_batches{status="in_progress"}')).toBe(0);
    // Routes are counted by their pattern, never by the raw id.
    expect(sample(after, 'batch_gateway_http_requests_total{method="GET",route="/v1/batches/:id",status="200"}')).toBeGreaterThanOrEqual(2);
    expect(after).not.toContain(batch.id);
  });

  it('keeps /openapi.json equal to the REST routes the app serves, under both prefixes', async () => {
    const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`)),
    );
    const express = gw.app.getHttpAdapter().getInstance();
    const stack: { route?: { path: string; methods: Record<string, boolean> } }[] = (express.router ?? express._router).stack;
    const served = new Set(
      stack
        .filter((layer) => layer.route && /^\/(api\/)?v1\//.test(layer.route.path))
        .flatMap((layer) =>
          Object.keys(layer.route!.methods).map((m) => `${m.toUpperCase()} ${layer.route!.path.replace(/:(\w+)/g, '{$1}')}`),
        ),
    );
    expect(served.size).toBeGreaterThanOrEqual(18);
    expect([...documented].sort()).toEqual([...served].sort());
    for (const op of served) {
      const twin = op.includes(' /api/v1/') ? op.replace(' /api/v1/', ' /v1/') : op.replace(' /v1/', ' /api/v1/');
      expect(served.has(twin)).toBe(true);
    }
  });

  it('reports throughput and per-provider error rates in the admin overview', async () => {
    const tenant = await gw.newTenant();
    const lines = Array.from({ length: 10 }, (_, i) => requestLine(1000 + i, MODEL));
    for (const i of [0, 1, 2]) lines[i].body.messages = [{ role: 'user', content: `ops bad ${i} #status=400` }];
    const file = await tenant.openai.files.create({ file: await toFile(Buffer.from(jsonl(lines)), 'ops.jsonl'), purpose: 'batch' });
    const batch = await tenant.openai.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitFor(() => tenant.openai.batches.retrieve(batch.id), (b) => b.status === 'completed');

    const admin = adminClient(gw.url, gw.adminToken);
    const data = await admin.query<{
      overview: { requestsFinished: number; requestsPerMinute: number; batchesByStatus: { status: string; count: number }[]; providers: { providerId: string; finished: number; failed: number; errorRate: number }[] };
      batch: { progress: number };
    }>(`query($id: ID!) { overview(windowMinutes: 5) { requestsFinished requestsPerMinute batchesByStatus { status count } providers { providerId finished failed errorRate } } batch(id: $id) { progress } }`, { id: batch.id });
    const fake = data.overview.providers.find((p) => p.providerId === 'fake')!;
    expect(fake.failed).toBeGreaterThanOrEqual(3);
    expect(fake.finished).toBeGreaterThanOrEqual(10);
    expect(fake.errorRate).toBeCloseTo(fake.failed / fake.finished, 6);
    expect(data.overview.requestsFinished).toBeGreaterThanOrEqual(fake.finished);
    expect(data.overview.requestsPerMinute).toBeCloseTo(data.overview.requestsFinished / 5, 6);
    expect(data.overview.batchesByStatus.find((s) => s.status === 'completed')?.count).toBeGreaterThanOrEqual(1);
    expect(data.batch.progress).toBe(1);
  });
});

describe('Logs', () => {
  it('never contain an API key, the admin token, a provider key or a webhook secret, even at debug level', async () => {
    const upstream = await startFakeUpstream();
    const receiver = await startWebhookReceiver();
    const { env, cleanup } = await testEnvironment();
    const apiKey = `sk-boot${randomBytes(12).toString('hex')}`;
    const wrongKey = `sk-wrong${randomBytes(12).toString('hex')}`;
    const upstreamKey = `sk-upstream-${randomBytes(12).toString('hex')}`;
    const child = new ChildGateway({
      ...env,
      LOG_LEVEL: 'debug',
      BOOTSTRAP_API_KEY: apiKey,
      ROUTING_FILE: routingFile(upstream),
      FAKE_UPSTREAM_KEY: upstreamKey,
    });
    try {
      await child.start(apiKey);
      const auth = { authorization: `Bearer ${apiKey}` };
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob([jsonl([requestLine(1, MODEL), requestLine(2, MODEL)])]), 'logs.jsonl');
      const file = await (await fetch(`${child.url}/v1/files`, { method: 'POST', headers: auth, body: form })).json();
      const created = await fetch(`${child.url}/v1/batches`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ input_file_id: file.id, callback_url: `${receiver.url}/hook` }),
      });
      expect(created.status).toBe(200);
      expect((await fetch(`${child.url}/v1/files`, { headers: { authorization: `Bearer ${wrongKey}` } })).status).toBe(401);
      await receiver.waitForRequests(1, 30_000);
      expect(upstream.authorizations).toContain(`Bearer ${upstreamKey}`);

      const admin = adminClient(child.url, env.ADMIN_TOKEN);
      const { accounts } = await admin.query<{ accounts: { id: string; webhookSecret: string }[] }>('{ accounts { id webhookSecret } }');
      const { createApiKey } = await admin.query<{ createApiKey: { secret: string } }>(
        'mutation($id: ID!) { createApiKey(accountId: $id) { secret } }',
        { id: accounts[0].id },
      );
      await child.stop('SIGTERM');

      const logLines = child.output.split('\n').filter((l) => l.startsWith('{'));
      expect(logLines.some((l) => JSON.parse(l).req?.id)).toBe(true);
      const secrets = [apiKey, wrongKey, upstreamKey, env.ADMIN_TOKEN, createApiKey.secret, accounts[0].webhookSecret, accounts[0].webhookSecret.slice('whsec_'.length)];
      for (const secret of secrets) expect(child.output).not.toContain(secret);
    } finally {
      await child.stop('SIGKILL');
      await receiver.close();
      await upstream.close();
      await cleanup();
    }
  });
});
