import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminClient } from './support/admin-client';
import { ChildGateway } from './support/child-gateway';
import { currentDriver } from './support/databases';
import { FakeUpstream, fakeRouting, startFakeUpstream } from './support/fake-upstream';
import { startGateway, Tenant, testEnvironment, TestGateway, waitFor } from './support/gateway';
import { jsonl, requestLine, RequestLine } from './support/jsonl';
import { scrape } from './support/metrics';
import { sdkBatch } from './support/sdk';
import { startWebhookReceiver, WebhookReceiver } from './support/webhook-receiver';

jest.setTimeout(90_000);

const MODEL = 'obs-model';
const PROVIDER = 'fake';

const MAX_CONCURRENCY = 4;

const routing = (upstream: FakeUpstream) => fakeRouting(upstream.url, { model: MODEL, maxConcurrency: MAX_CONCURRENCY });

/** `count` request lines for MODEL; `content(i)` steers the fake upstream per line (see fake-upstream.ts). */
function lines(count: number, first: number, content: (i: number) => string | null = () => null): RequestLine[] {
  return Array.from({ length: count }, (_, i) => {
    const line = requestLine(first + i, MODEL);
    const steer = content(i);
    if (steer) line.body.messages = [{ role: 'user', content: `line ${first + i} ${steer}` }];
    return line;
  });
}

const runBatch = (tenant: Tenant, requestLines: RequestLine[], extra: Record<string, unknown> = {}) =>
  sdkBatch(tenant, jsonl(requestLines), extra, 'obs.jsonl');

const UPSTREAM = 'batch_gateway_upstream_requests_total';
const LATENCY_COUNT = 'batch_gateway_upstream_latency_seconds_count';
const HTTP = 'batch_gateway_http_requests_total';
const BATCHES = 'batch_gateway_batches';
const IN_FLIGHT = 'batch_gateway_upstream_in_flight';
const QUEUED = 'batch_gateway_queued_lines';
const WEBHOOKS = 'batch_gateway_webhook_deliveries_total';

interface Overview {
  requestsFinished: number;
  requestsPerMinute: number;
  windowMinutes: number;
  batchesByStatus: { status: string; count: number }[];
  providers: { providerId: string; finished: number; failed: number; errorRate: number }[];
}

const OVERVIEW = `{ overview(windowMinutes: 5) { windowMinutes requestsFinished requestsPerMinute batchesByStatus { status count } providers { providerId finished failed errorRate } } }`;

describe('Observability', () => {
  let upstream: FakeUpstream;
  let receiver: WebhookReceiver;
  let gw: TestGateway;
  let upstreamKey: string;

  beforeAll(async () => {
    upstream = await startFakeUpstream({ latencyMs: 30 });
    receiver = await startWebhookReceiver();
    upstreamKey = `sk-upstream-${randomBytes(12).toString('hex')}`;
    gw = await startGateway({ UPSTREAM_FAKE_KEY: upstreamKey, UPSTREAM_MAX_ATTEMPTS: '3' }, routing(upstream));
  });

  afterAll(async () => {
    await gw?.close();
    await receiver?.close();
    await upstream?.close();
  });

  describe('health', () => {
    it('answers /healthz and /readyz without any key, every dependency up, and nothing secret in the body', async () => {
      const tenant = await gw.newTenant('obs-health');
      for (const path of ['/healthz', '/readyz']) {
        const res = await fetch(`${gw.url}${path}`);
        const body = await res.text();
        expect({ path, status: res.status }).toEqual({ path, status: 200 });
        expect(JSON.parse(body)).toMatchObject({ status: 'ok' });
        for (const secret of [gw.adminToken, tenant.apiKey, upstreamKey, gw.config.databaseUrl].filter((s): s is string => !!s)) {
          expect(body).not.toContain(secret);
        }
      }
      const ready = await (await fetch(`${gw.url}/readyz`)).json();
      expect(ready).toMatchObject({
        status: 'ok',
        details: { database: { status: 'up' }, queue: { status: 'up' }, storage: { status: 'up' } },
      });
    });

    it('turns /readyz to 503 with storage down when the files directory stops being writable, and back to 200 once it is', async () => {
      const broken = await startGateway();
      try {
        const filesDir = join(broken.config.dataDir, 'files');
        expect((await fetch(`${broken.url}/readyz`)).status).toBe(200);

        // Root ignores chmod, so the directory is replaced by a regular file: every write under it fails.
        rmSync(filesDir, { recursive: true, force: true });
        writeFileSync(filesDir, 'not a directory');
        const res = await fetch(`${broken.url}/readyz`);
        const text = await res.text();
        expect(res.status).toBe(503);
        expect(JSON.parse(text)).toMatchObject({
          status: 'error',
          error: { storage: { status: 'down' } },
          details: { database: { status: 'up' }, queue: { status: 'up' }, storage: { status: 'down' } },
        });
        expect(text).not.toContain(broken.config.dataDir);
        expect(text).not.toContain(broken.adminToken);
        // Liveness does not depend on the dependencies: a load balancer must not restart a process for this.
        expect((await fetch(`${broken.url}/healthz`)).status).toBe(200);

        rmSync(filesDir, { force: true });
        mkdirSync(filesDir);
        const again = await fetch(`${broken.url}/readyz`);
        expect(again.status).toBe(200);
        expect(await again.json()).toMatchObject({ status: 'ok', details: { storage: { status: 'up' } } });
      } finally {
        await broken.close();
      }
    });
  });

  describe('metrics', () => {
    it('shows the counters and gauges moving in scrapes taken before, during and after a running batch', async () => {
      const tenant = await gw.newTenant('obs-metrics');
      const total = 300;
      const retriedLines = 3;
      const requestLines = lines(total, 0, (i) => (i % 100 === 7 ? '#status=500x1' : null));
      const hooksBefore = receiver.requests.length;
      const before = await scrape(gw.url);
      const batch = await runBatch(tenant, requestLines, { callback_url: `${receiver.url}/metrics-hook` });

      const inProgress = (b: { status: string; request_counts?: { completed: number; failed: number } | null }) =>
        b.status === 'in_progress' && (b.request_counts?.completed ?? 0) >= 20;
      await waitFor(() => tenant.openai.batches.retrieve(batch.id), inProgress);
      const during = await scrape(gw.url);
      // The admin view of the same run: a share strictly between 0 and 1 that agrees with the counts.
      const admin = adminClient(gw.url, gw.adminToken);
      const mid = await admin.query<{ batch: { status: string; progress: number; requestCounts: { total: number; completed: number; failed: number } } }>(
        'query($id: ID!) { batch(id: $id) { status progress requestCounts { total completed failed } } }',
        { id: batch.id },
      );
      // Both taken before a read that still says in_progress, with lines left to run: they saw the run itself.
      const still = await tenant.openai.batches.retrieve(batch.id);
      expect(still.status).toBe('in_progress');
      expect(still.request_counts!.completed).toBeLessThan(total);

      expect(during.value(BATCHES, { status: 'in_progress' })).toBe(1);
      expect(during.value(UPSTREAM, { provider: PROVIDER, outcome: 'succeeded' })).toBeGreaterThan(
        before.value(UPSTREAM, { provider: PROVIDER, outcome: 'succeeded' }),
      );
      expect(during.value(UPSTREAM, { provider: PROVIDER, outcome: 'dispatched' })).toBeGreaterThan(
        before.value(UPSTREAM, { provider: PROVIDER, outcome: 'dispatched' }),
      );
      expect(during.value(LATENCY_COUNT, { provider: PROVIDER })).toBeGreaterThan(before.value(LATENCY_COUNT, { provider: PROVIDER }));
      expect(during.value(IN_FLIGHT, { provider: PROVIDER })).toBeGreaterThanOrEqual(1);
      expect(during.value(IN_FLIGHT, { provider: PROVIDER })).toBeLessThanOrEqual(MAX_CONCURRENCY);
      expect(during.value(QUEUED, { provider: PROVIDER })).toBeGreaterThan(0);
      expect(during.value(QUEUED, { provider: PROVIDER })).toBeLessThanOrEqual(total);

      const c = mid.batch.requestCounts;
      expect(mid.batch.status).toBe('in_progress');
      expect(c.total).toBe(total);
      expect(mid.batch.progress).toBeGreaterThan(0);
      expect(mid.batch.progress).toBeLessThan(1);
      expect(mid.batch.progress).toBeCloseTo((c.completed + c.failed) / c.total, 9);

      await waitFor(
        () => tenant.openai.batches.retrieve(batch.id),
        (b) => b.status === 'completed',
        60_000,
      );
      await receiver.waitForRequests(hooksBefore + 1, 30_000);
      // The delivery counter moves right after the receiver answers; the queued lines gauge drops at the next scheduler tick.
      const after = await waitFor(
        () => scrape(gw.url),
        (s) => s.value(WEBHOOKS, { outcome: 'delivered' }) > before.value(WEBHOOKS, { outcome: 'delivered' }) && s.value(QUEUED, { provider: PROVIDER }) === 0,
      );
      expect(after.value(IN_FLIGHT, { provider: PROVIDER })).toBe(0);
      const delta = (name: string, labels: Record<string, string>) => after.value(name, labels) - before.value(name, labels);

      expect(after.value(UPSTREAM, { provider: PROVIDER, outcome: 'succeeded' })).toBeGreaterThan(
        during.value(UPSTREAM, { provider: PROVIDER, outcome: 'succeeded' }),
      );
      expect(delta(UPSTREAM, { provider: PROVIDER, outcome: 'succeeded' })).toBe(total);
      expect(delta(UPSTREAM, { provider: PROVIDER, outcome: 'retried' })).toBe(retriedLines);
      expect(delta(UPSTREAM, { provider: PROVIDER, outcome: 'failed' })).toBe(0);
      expect(delta(UPSTREAM, { provider: PROVIDER, outcome: 'dispatched' })).toBe(total + retriedLines);
      expect(delta(LATENCY_COUNT, { provider: PROVIDER })).toBe(total + retriedLines);
      expect(after.value(LATENCY_COUNT, { provider: PROVIDER })).toBeGreaterThan(during.value(LATENCY_COUNT, { provider: PROVIDER }));
      // With a 30 ms upstream, the histogram's sum must be at least 30 ms per attempt.
      expect(delta('batch_gateway_upstream_latency_seconds_sum', { provider: PROVIDER })).toBeGreaterThanOrEqual((total + retriedLines) * 0.03 * 0.9);
      expect(delta(WEBHOOKS, { outcome: 'delivered' })).toBe(1);
      expect(after.value(BATCHES, { status: 'in_progress' })).toBe(0);
      expect(delta(BATCHES, { status: 'completed' })).toBe(1);
      expect(upstream.authorizations).toContain(`Bearer ${upstreamKey}`);
    });

    it('counts HTTP requests by route pattern and status, never by raw id or path, under both prefixes', async () => {
      const tenant = await gw.newTenant('obs-http');
      const batch = await runBatch(tenant, lines(2, 500));
      // Finished before the next test reads its before-and-after figures.
      await waitFor(
        () => tenant.openai.batches.retrieve(batch.id),
        (b) => b.status === 'completed',
      );
      const unknownPath = `/v1/nothing-here-${randomBytes(6).toString('hex')}`;
      const auth = { authorization: `Bearer ${tenant.apiKey}` };
      const before = await scrape(gw.url);

      for (let i = 0; i < 3; i++) expect((await fetch(`${gw.url}/v1/batches/${batch.id}`, { headers: auth })).status).toBe(200);
      for (let i = 0; i < 2; i++) expect((await fetch(`${gw.url}/api/v1/batches/${batch.id}`, { headers: auth })).status).toBe(200);
      expect((await fetch(`${gw.url}/v1/batches/batch_doesnotexist`, { headers: auth })).status).toBe(404);
      expect((await fetch(`${gw.url}/v1/batches/${batch.id}`, { headers: { authorization: 'Bearer sk-not-a-key-at-all-0000' } })).status).toBe(401);
      expect((await fetch(`${gw.url}${unknownPath}`, { headers: auth })).status).toBe(404);
      await adminClient(gw.url, gw.adminToken).query('{ accounts { id } }');

      const after = await scrape(gw.url);
      const delta = (labels: Record<string, string>) => after.value(HTTP, labels) - before.value(HTTP, labels);
      expect(delta({ method: 'GET', route: '/v1/batches/:id', status: '200' })).toBe(3);
      expect(delta({ method: 'GET', route: '/api/v1/batches/:id', status: '200' })).toBe(2);
      expect(delta({ method: 'GET', route: '/v1/batches/:id', status: '404' })).toBe(1);
      expect(delta({ method: 'GET', route: '/v1/batches/:id', status: '401' })).toBe(1);
      expect(delta({ method: 'POST', route: '/graphql', status: '200' })).toBe(1);
      // The scrape before this one was itself counted.
      expect(delta({ method: 'GET', route: '/metrics', status: '200' })).toBe(1);
      expect(delta({ method: 'GET', status: '404' })).toBe(2);
      for (const route of after.labelValues(HTTP, 'route')) {
        expect(route).not.toMatch(/batch_[A-Za-z0-9]|file-[A-Za-z0-9]|nothing-here/);
      }
      expect(after.text).not.toContain(batch.id);
      expect(after.text).not.toContain(batch.input_file_id);
      expect(after.text).not.toContain(unknownPath);
    });
  });

  describe('OpenAPI', () => {
    it('describes exactly the REST operations the app serves, each under both /v1 and /api/v1', async () => {
      const res = await fetch(`${gw.url}/openapi.json`);
      expect(res.status).toBe(200);
      const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
      expect(doc.openapi).toMatch(/^3\./);
      const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']);
      const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.keys(item)
          .filter((m) => HTTP_METHODS.has(m))
          .map((m) => `${m.toUpperCase()} ${path}`),
      );

      // Express 5 keeps its router at app.router (Express 4 had app._router).
      const express = gw.app.getHttpAdapter().getInstance();
      const router = express.router ?? express._router;
      expect(Array.isArray(router?.stack)).toBe(true);
      const routes = (router.stack as { route?: { path: string | string[]; methods: Record<string, boolean> } }[])
        .filter((layer) => layer.route)
        .flatMap((layer) =>
          (Array.isArray(layer.route!.path) ? layer.route!.path : [layer.route!.path]).map((path) => ({ path, methods: layer.route!.methods })),
        );
      // Not vacuous: the walk does see the routes outside the API too.
      expect(routes.map((r) => r.path)).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/openapi.json']));
      const served = routes
        .filter((r) => /^\/(api\/)?v1(\/|$)/.test(r.path))
        .flatMap((r) =>
          Object.keys(r.methods)
            .filter((m) => m !== '_all')
            .map((m) => `${m.toUpperCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`),
        );

      expect(new Set(served).size).toBe(served.length);
      expect(new Set(documented).size).toBe(documented.length);
      expect([...documented].sort()).toEqual([...served].sort());

      // The contract's operations (DESIGN §3) are all there.
      const contract = [
        'POST /v1/files',
        'GET /v1/files',
        'GET /v1/files/{id}',
        'GET /v1/files/{id}/content',
        'DELETE /v1/files/{id}',
        'POST /v1/batches',
        'GET /v1/batches',
        'GET /v1/batches/{id}',
        'POST /v1/batches/{id}/cancel',
      ];
      for (const op of contract) {
        expect(documented).toContain(op);
        expect(documented).toContain(op.replace(' /v1/', ' /api/v1/'));
      }
      // Every operation has its twin under the other prefix.
      for (const op of documented) {
        const twin = op.includes(' /api/v1/') ? op.replace(' /api/v1/', ' /v1/') : op.replace(' /v1/', ' /api/v1/');
        expect(documented).toContain(twin);
      }
    });

    it('declares the bearer key on every operation, as the served routes demand it', async () => {
      const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as {
        security?: Record<string, string[]>[];
        components?: { securitySchemes?: Record<string, { type: string; scheme?: string }> };
        paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
      };
      const bearerSchemes = Object.entries(doc.components?.securitySchemes ?? {})
        .filter(([, scheme]) => scheme.type === 'http' && scheme.scheme?.toLowerCase() === 'bearer')
        .map(([name]) => name);
      expect(bearerSchemes).toHaveLength(1);

      const anonymous: string[] = [];
      for (const [path, item] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(item)) {
          // What the app does: without a key, every documented operation is refused.
          const res = await fetch(`${gw.url}${path.replace(/\{\w+\}/g, 'x_unknown')}`, { method: method.toUpperCase() });
          expect({ op: `${method.toUpperCase()} ${path}`, status: res.status }).toEqual({ op: `${method.toUpperCase()} ${path}`, status: 401 });
          // What the document must say: an operation's own security wins over the document's.
          const requirements = op.security ?? doc.security ?? [];
          if (!requirements.some((r) => Object.keys(r).some((name) => bearerSchemes.includes(name)))) anonymous.push(`${method.toUpperCase()} ${path}`);
        }
      }
      expect(anonymous).toEqual([]);
    });
  });

  describe('admin overview', () => {
    it('reports the finished and failed requests of a batch per provider, its error rate, and the batch as completed', async () => {
      const admin = adminClient(gw.url, gw.adminToken);
      const tenant = await gw.newTenant('obs-overview');
      const total = 12;
      const failing = 4;
      const before = (await admin.query<{ overview: Overview }>(OVERVIEW)).overview;
      const metricsBefore = await scrape(gw.url);

      const batch = await runBatch(
        tenant,
        lines(total, 900, (i) => (i < failing ? '#status=400' : null)),
      );
      const done = await waitFor(
        () => tenant.openai.batches.retrieve(batch.id),
        (b) => b.status === 'completed',
      );
      expect(done.request_counts).toEqual({ total, completed: total - failing, failed: failing });

      const data = await admin.query<{ overview: Overview; batch: { status: string; progress: number } }>(
        `query($id: ID!) { overview(windowMinutes: 5) { windowMinutes requestsFinished requestsPerMinute batchesByStatus { status count } providers { providerId finished failed errorRate } } batch(id: $id) { status progress } }`,
        { id: batch.id },
      );
      const after = data.overview;
      const provider = (o: Overview) => o.providers.find((p) => p.providerId === PROVIDER) ?? { providerId: PROVIDER, finished: 0, failed: 0, errorRate: 0 };
      const completed = (o: Overview) => o.batchesByStatus.find((s) => s.status === 'completed')?.count ?? 0;

      const fake = provider(after);
      expect(fake.finished).toBeGreaterThan(0);
      expect(fake.finished - provider(before).finished).toBe(total);
      expect(fake.failed - provider(before).failed).toBe(failing);
      expect(fake.errorRate).toBeGreaterThan(0);
      expect(fake.errorRate).toBeCloseTo(fake.failed / fake.finished, 9);
      expect(after.windowMinutes).toBe(5);
      expect(after.requestsFinished).toBe(after.providers.reduce((n, p) => n + p.finished, 0));
      expect(after.requestsPerMinute).toBeCloseTo(after.requestsFinished / 5, 9);
      expect(completed(after) - completed(before)).toBe(1);
      expect(after.batchesByStatus.every((s) => s.count > 0)).toBe(true);
      expect(data.batch).toEqual({ status: 'completed', progress: 1 });

      // Metrics tell the same story: 400s are failures, never retried.
      const metricsAfter = await scrape(gw.url);
      const delta = (outcome: string) =>
        metricsAfter.value(UPSTREAM, { provider: PROVIDER, outcome }) - metricsBefore.value(UPSTREAM, { provider: PROVIDER, outcome });
      expect(delta('failed')).toBe(failing);
      expect(delta('retried')).toBe(0);
      expect(delta('succeeded')).toBe(total - failing);
    });
  });
});

describe('Logs at debug level', () => {
  it('carry request ids but never an API key, the admin token, the upstream key, a database password or a webhook secret', async () => {
    const upstream = await startFakeUpstream();
    const receiver = await startWebhookReceiver();
    const { env, cleanup } = await testEnvironment({}, routing(upstream));
    const bootstrapKey = `sk-boot-${randomBytes(12).toString('hex')}`;
    const wrongKey = `sk-wrong-${randomBytes(12).toString('hex')}`;
    const wrongAdminToken = `adm-wrong-${randomBytes(12).toString('hex')}`;
    const upstreamKey = `sk-upstream-${randomBytes(12).toString('hex')}`;
    const secrets: Record<string, string> = {
      bootstrapKey,
      wrongKey,
      wrongAdminToken,
      upstreamKey,
      adminToken: env.ADMIN_TOKEN,
    };
    if (currentDriver() === 'postgres') {
      // The test server trusts local connections, so a password in the URL is accepted and never checked: it must still not be logged.
      const url = new URL(env.DATABASE_URL);
      url.password = `pgpw${randomBytes(10).toString('hex')}`;
      env.DATABASE_URL = url.toString();
      secrets.databasePassword = url.password;
    }
    const child = new ChildGateway({
      ...env,
      LOG_LEVEL: 'debug',
      BOOTSTRAP_API_KEY: bootstrapKey,
      UPSTREAM_FAKE_KEY: upstreamKey,
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    try {
      await child.start(bootstrapKey);
      const auth = { authorization: `Bearer ${bootstrapKey}` };
      const form = new FormData();
      form.append('purpose', 'batch');
      const input = lines(4, 0, (i) => ['#status=400', '#status=500x1', null, null][i]);
      form.append('file', new Blob([jsonl(input)]), 'logs.jsonl');
      const upload = await fetch(`${child.url}/v1/files`, { method: 'POST', headers: auth, body: form });
      expect(upload.status).toBe(200);
      const file = await upload.json();
      const created = await fetch(`${child.url}/v1/batches`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', callback_url: `${receiver.url}/hook` }),
      });
      expect(created.status).toBe(200);
      const batch = await created.json();

      expect((await fetch(`${child.url}/v1/files`, { headers: { authorization: `Bearer ${wrongKey}` } })).status).toBe(401);
      expect((await fetch(`${child.url}/api/v1/batches/${batch.id}`, { headers: { authorization: `Bearer ${wrongKey}` } })).status).toBe(401);
      expect((await adminClient(child.url, wrongAdminToken).request('{ accounts { id } }')).status).toBe(401);

      const [hook] = await receiver.waitForRequests(1, 30_000);
      const finished = await (await fetch(`${child.url}/v1/batches/${batch.id}`, { headers: auth })).json();
      expect(finished).toMatchObject({ status: 'completed', request_counts: { total: 4, completed: 3, failed: 1 } });
      expect(upstream.authorizations).toEqual(new Set([`Bearer ${upstreamKey}`]));

      const admin = adminClient(child.url, env.ADMIN_TOKEN);
      const { accounts } = await admin.query<{ accounts: { id: string; webhookSecret: string }[] }>('{ accounts { id webhookSecret } }');
      expect(accounts).toHaveLength(1);
      const webhookSecret = accounts[0].webhookSecret;
      expect(webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      // The webhook was signed with this very secret (Standard Webhooks), so looking for it in the logs means something.
      const signed = `${String(hook.headers['webhook-id'])}.${String(hook.headers['webhook-timestamp'])}.${hook.body}`;
      const expected = createHmac('sha256', Buffer.from(webhookSecret.slice('whsec_'.length), 'base64'))
        .update(signed)
        .digest('base64');
      expect(String(hook.headers['webhook-signature']).split(' ')).toContain(`v1,${expected}`);

      const { createApiKey } = await admin.query<{ createApiKey: { secret: string } }>('mutation($id: ID!) { createApiKey(accountId: $id) { secret } }', {
        id: accounts[0].id,
      });
      expect(createApiKey.secret).toMatch(/^sk-/);
      // The new key is used once, so it passes through the request logger too.
      expect((await fetch(`${child.url}/v1/batches/${batch.id}`, { headers: { authorization: `Bearer ${createApiKey.secret}` } })).status).toBe(200);
      Object.assign(secrets, {
        newApiKey: createApiKey.secret,
        webhookSecret,
        webhookSecretKey: webhookSecret.slice('whsec_'.length),
      });

      await child.stop('SIGTERM');

      // Not vacuous: debug logging did record the requests, the refused ones included, each with its id.
      const records = child.output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { req?: { id?: string; url?: string }; res?: { statusCode?: number } });
      const requests = records.filter((r) => typeof r.req?.id === 'string' && r.req.id.length > 0);
      expect(requests.length).toBeGreaterThanOrEqual(8);
      expect(requests.some((r) => r.req!.url === '/v1/files' && r.res?.statusCode === 401)).toBe(true);
      expect(requests.some((r) => r.req!.url === `/v1/batches/${batch.id}` && r.res?.statusCode === 200)).toBe(true);
      expect(requests.some((r) => r.req!.url === '/graphql' && r.res?.statusCode === 401)).toBe(true);

      const leaked = Object.entries(secrets)
        .filter(([, secret]) => child.output.includes(secret))
        .map(([name]) => name);
      expect(leaked).toEqual([]);
    } finally {
      await child.stop('SIGKILL');
      await receiver.close();
      await upstream.close();
      await cleanup();
    }
  });
});
