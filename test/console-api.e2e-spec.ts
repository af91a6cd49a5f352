import { ADMIN_SCHEMA_FILE, ConsoleModule } from '@app/admin';
import { Clock } from '@app/core';
import { buildClientSchema, getIntrospectionQuery, IntrospectionQuery, lexicographicSortSchema, printSchema } from 'graphql';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AdminClient, adminClient } from './support/admin-client';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { startGateway, Tenant, TestGateway, waitFor } from './support/gateway';
import { jsonl } from './support/jsonl';
import { rest } from './support/rest-client';
import { sdkUpload, untilFinished } from './support/sdk';
import { startWebhookReceiver, WebhookReceiver } from './support/webhook-receiver';

/**
 * What the operator console needs from the gateway, end to end on real servers: the console's files at
 * /admin with their security headers (and the API left where it is), the Overview's time series and
 * load figures, signed download links for any account's files, field-level validation errors, and the
 * committed schema the console's types are generated from.
 */

jest.setTimeout(90_000);

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join(';');

const INDEX_HTML = '<!doctype html><html><head><script type="module" src="/admin/assets/index-3f9a1c.js"></script></head><body></body></html>\n';

function expectConsoleHeaders(res: Response, path: string): void {
  expect({
    path,
    csp: res.headers.get('content-security-policy'),
    frame: res.headers.get('x-frame-options'),
    sniff: res.headers.get('x-content-type-options'),
    referrer: res.headers.get('referrer-policy'),
  }).toEqual({ path, csp: CSP, frame: 'DENY', sniff: 'nosniff', referrer: 'no-referrer' });
}

describe(ConsoleModule.name, () => {
  let gw: TestGateway;
  let consoleDir: string;

  beforeAll(async () => {
    consoleDir = mkdtempSync(join(tmpdir(), 'bg-console-'));
    gw = await startGateway({ CONSOLE_DIR: consoleDir });
  });
  afterAll(async () => {
    await gw?.close();
    rmSync(consoleDir, { recursive: true, force: true });
  });

  it('boots without a build, answers /admin with a plain 404 saying to run it, and serves the console once built, without a restart', async () => {
    for (const path of ['/admin', '/admin/batches']) {
      const res = await fetch(`${gw.url}${path}`);
      expect({ path, status: res.status, type: res.headers.get('content-type') }).toEqual({ path, status: 404, type: 'text/plain; charset=utf-8' });
      const text = await res.text();
      expect(text).toContain('npm run build');
      expect(text).not.toContain(consoleDir);
      expectConsoleHeaders(res, path);
    }
    mkdirSync(join(consoleDir, 'assets'));
    writeFileSync(join(consoleDir, 'assets', 'index-3f9a1c.js'), 'document.title = "console";\n');
    writeFileSync(join(consoleDir, 'index.html'), INDEX_HTML);
    const res = await fetch(`${gw.url}/admin`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(INDEX_HTML);
  });

  it('serves index.html at /admin and at every deep link below it, never cached, with the security headers', async () => {
    for (const path of ['/admin', '/admin/', '/admin/index.html', '/admin/batches', '/admin/batches/batch_abc?status=running', '/admin/accounts/acct_1/keys']) {
      const res = await fetch(`${gw.url}${path}`, { redirect: 'manual' });
      expect({ path, status: res.status, type: res.headers.get('content-type'), cache: res.headers.get('cache-control') }).toEqual({
        path,
        status: 200,
        type: 'text/html; charset=utf-8',
        cache: 'no-store',
      });
      expect(await res.text()).toBe(INDEX_HTML);
      expectConsoleHeaders(res, path);
    }
  });

  it('serves hashed assets as immutable, and a missing asset is a 404 rather than the page', async () => {
    const asset = await fetch(`${gw.url}/admin/assets/index-3f9a1c.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expectConsoleHeaders(asset, 'asset');
    const missing = await fetch(`${gw.url}/admin/assets/index-000000.js`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).not.toContain('<!doctype html>');
  });

  it('redirects / to the console', async () => {
    const res = await fetch(`${gw.url}/`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/admin');
  });

  it('leaves the API where it was: nothing outside /admin is served from the console, nor gets its headers', async () => {
    const tenant = await gw.newTenant();
    const answers = {
      v1: await rest(gw, tenant.apiKey, 'GET', '/v1/batches'),
      envelope: await rest(gw, tenant.apiKey, 'GET', '/api/v1/files'),
      unknown: await rest(gw, tenant.apiKey, 'GET', '/v1/nothing-here'),
      graphql: await adminClient(gw.url, gw.adminToken).request('{ accounts { id } }'),
    };
    expect(answers.v1).toMatchObject({ status: 200, body: { object: 'list' } });
    expect(answers.envelope).toMatchObject({ status: 200, body: { success: true } });
    expect(answers.unknown).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(answers.graphql.status).toBe(200);
    for (const path of ['/healthz', '/metrics', '/openapi.json', '/adminx', '/v1/files']) {
      const res = await fetch(`${gw.url}${path}`);
      expect({ path, html: (await res.text()).includes('<!doctype html>'), csp: res.headers.get('content-security-policy') }).toEqual({
        path,
        html: false,
        csp: null,
      });
    }
  });
});

/** Routing: the built-in mock, and one fake upstream behind two providers, so each test reads its own provider's figures. */
function routingFile(dir: string, upstreamUrl: string): string {
  const provider = (id: string, concurrency: number) => [
    `  - id: ${id}`,
    '    kind: openai',
    `    base_url: ${upstreamUrl}`,
    '    api_key_env: UPSTREAM_FAKE_KEY',
    `    max_concurrency: ${concurrency}`,
  ];
  const sku = (model: string, providerId: string) => [
    `  - id: ${model}@${providerId}`,
    `    model: ${model}`,
    `    provider: ${providerId}`,
    '    upstream_model: fake-upstream-model',
    '    batch_capable: true',
    '    active: true',
  ];
  const path = join(dir, 'routing.yaml');
  writeFileSync(
    path,
    [
      'providers:',
      '  - id: mock',
      '    kind: mock',
      ...provider('series-upstream', 8),
      ...provider('slow-upstream', 3),
      'skus:',
      '  - id: batch-test-model@mock',
      '    model: batch-test-model',
      '    provider: mock',
      '    upstream_model: mock-echo-1',
      ...sku('series-model', 'series-upstream'),
      ...sku('slow-model', 'slow-upstream'),
      '',
    ].join('\n'),
  );
  return path;
}

/** Chat lines on `model`, each with its own content (and marker for the fake upstream). */
function lines(model: string, tag: string, markers: string[]): string {
  return jsonl(
    markers.map((marker, i) => ({
      custom_id: `${tag}-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model, messages: [{ role: 'user', content: `${tag} line ${i} ${marker}` }] },
    })),
  );
}

async function runBatch(tenant: Tenant, content: string, extra: Record<string, unknown> = {}): Promise<string> {
  const file = await sdkUpload(tenant, content);
  const batch = await tenant.openai.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', ...extra });
  return batch.id;
}

const OVERVIEW = `{ overview(windowMinutes: 60) {
  providers { providerId finished failed errorRate queuedLines inFlight }
  queues { queue waiting active }
  webhooks { pending retrying failed failedAttempts }
} }`;

const SERIES = `query($range: ThroughputRange!) { throughputSeries(range: $range) {
  range bucketSeconds start end providers { providerId buckets { start completed failed } }
} }`;

describe('The admin API for the console', () => {
  let gw: TestGateway;
  let admin: AdminClient;
  let upstream: FakeUpstream;
  let receiver: WebhookReceiver;
  let routingDir: string;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    receiver = await startWebhookReceiver();
    routingDir = mkdtempSync(join(tmpdir(), 'bg-console-api-'));
    gw = await startGateway({ ROUTING_FILE: routingFile(routingDir, upstream.url), UPSTREAM_FAKE_KEY: 'fake-key', WEBHOOK_RETRY_DELAYS_MS: '100' });
    admin = adminClient(gw.url, gw.adminToken);
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await receiver?.close();
    rmSync(routingDir, { recursive: true, force: true });
  });

  describe('throughputSeries', () => {
    it("counts a batch's requests in the buckets they finished in, completed and failed apart, for its provider", async () => {
      const tenant = await gw.newTenant();
      const id = await runBatch(tenant, lines('series-model', 'series', ['', '', '#status=400', '', '#status=400', '', '#status=500x1', '']));
      const done = await untilFinished(tenant, id);
      expect(done.request_counts).toEqual({ total: 8, completed: 6, failed: 2 });

      // What the series must say, from the batch's own request rows.
      const { batch } = await admin.query(`query($id: ID!) { batch(id: $id) { requests(first: 100) { rows { status finishedAt } } } }`, { id });
      const expected = (size: number) => {
        const buckets = new Map<number, { completed: number; failed: number }>();
        for (const row of batch.requests.rows as { status: 'completed' | 'failed'; finishedAt: number }[]) {
          const start = Math.floor(row.finishedAt / size) * size;
          const bucket = buckets.get(start) ?? { completed: 0, failed: 0 };
          bucket[row.status] += 1;
          buckets.set(start, bucket);
        }
        return [...buckets].map(([start, counts]) => ({ start, ...counts })).sort((a, b) => a.start - b.start);
      };

      for (const [range, size, count] of [
        ['HOUR', 60, 60],
        ['DAY', 900, 96],
      ] as const) {
        const { throughputSeries: series } = await admin.query(SERIES, { range });
        expect(series).toMatchObject({ range, bucketSeconds: size });
        expect(series.end - series.start).toBe(size * count);
        expect(series.start % size).toBe(0);
        expect(series.end).toBeGreaterThan(Math.floor(Date.now() / 1000));
        const mine = series.providers.find((p: any) => p.providerId === 'series-upstream');
        expect(mine.buckets).toHaveLength(count);
        expect(mine.buckets.map((b: any) => b.start)).toEqual(Array.from({ length: count }, (_, i) => series.start + i * size));
        expect({ range, buckets: mine.buckets.filter((b: any) => b.completed + b.failed > 0) }).toEqual({ range, buckets: expected(size) });
        expect(series.providers.map((p: any) => p.providerId)).not.toContain('slow-upstream');
      }
    });

    it('refuses a range it does not know', async () => {
      const res = await admin.request(SERIES, { range: 'WEEK' });
      expect(res.data ?? null).toBeNull();
      expect(res.errors?.[0]?.message).toMatch(/ThroughputRange/);
    });
  });

  describe('overview', () => {
    it("shows each provider's queued lines and requests in flight while a batch runs, from the workers' heartbeats", async () => {
      const tenant = await gw.newTenant();
      const id = await runBatch(
        tenant,
        lines(
          'slow-model',
          'slow',
          Array.from({ length: 30 }, () => '#latency=2000'),
        ),
      );
      const busy = await waitFor(
        async () => (await admin.query(OVERVIEW)).overview.providers.find((p: any) => p.providerId === 'slow-upstream'),
        (p) => p?.inFlight > 0,
        20_000,
        200,
      );
      expect(busy.inFlight).toBeLessThanOrEqual(3); // the provider's max_concurrency
      expect(busy.queuedLines).toBeGreaterThan(0);
      expect(busy.queuedLines).toBeLessThanOrEqual(30);
      const { overview } = await admin.query(OVERVIEW);
      expect(overview.queues.map((q: any) => q.queue)).toEqual(expect.arrayContaining(['batch-finalize', 'webhook-deliver']));

      await admin.query(`mutation($id: ID!) { cancelBatch(id: $id) { status } }`, { id });
      await untilFinished(tenant, id);
      const idle = await waitFor(
        async () => (await admin.query(OVERVIEW)).overview.providers.find((p: any) => p.providerId === 'slow-upstream'),
        (p) => p.inFlight === 0 && p.queuedLines === 0,
        20_000,
        200,
      );
      expect(idle).toMatchObject({ inFlight: 0, queuedLines: 0 });
    });

    it('counts webhook attempts that failed, and events given up on', async () => {
      const before = (await admin.query(OVERVIEW)).overview.webhooks;
      receiver.answerAlways(500);
      const tenant = await gw.newTenant();
      const id = await runBatch(tenant, lines('batch-test-model', 'hook', ['']), { callback_url: `${receiver.url}/hook` });
      await untilFinished(tenant, id);
      // WEBHOOK_RETRY_DELAYS_MS=100: one attempt, one retry, then the event is given up on.
      const after = await waitFor(
        async () => (await admin.query(OVERVIEW)).overview.webhooks,
        (w) => w.failed === before.failed + 1,
        20_000,
        100,
      );
      expect(after.failedAttempts - before.failedAttempts).toBe(2);
      expect(after).toMatchObject({ pending: 0, retrying: 0 });
    });
  });

  describe('fileDownloadUrl', () => {
    const LINK = `mutation($id: ID!) { fileDownloadUrl(fileId: $id) { url expiresAt filename bytes } }`;

    async function link(fileId: string): Promise<{ url: string; expiresAt: number; filename: string; bytes: number }> {
      return (await admin.query(LINK, { id: fileId })).fileDownloadUrl;
    }

    async function finishedBatch(tenant: Tenant): Promise<{ input: string; output: string; errors: string; content: string }> {
      const content = lines('series-model', 'files', ['', '#status=400', '']);
      const id = await runBatch(tenant, content);
      const done = await untilFinished(tenant, id);
      return { input: done.input_file_id, output: done.output_file_id!, errors: done.error_file_id!, content };
    }

    it("downloads any account's input, output and error file without its key, streamed as an attachment, for five minutes", async () => {
      const tenant = await gw.newTenant();
      const files = await finishedBatch(tenant);
      for (const [kind, fileId] of Object.entries({ input: files.input, output: files.output, errors: files.errors })) {
        const issued = await link(fileId);
        expect(issued.url).toMatch(new RegExp(`^/admin/files/${fileId}/content\\?expires=${issued.expiresAt}&signature=[A-Za-z0-9_-]{43}$`));
        expect(issued.url).not.toContain(gw.adminToken);
        expect(issued.expiresAt - Math.floor(Date.now() / 1000)).toBeGreaterThanOrEqual(299);
        expect(issued.expiresAt - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(300);

        const res = await fetch(`${gw.url}${issued.url}`); // no Authorization header
        const body = await res.text();
        const own = await (await tenant.openai.files.content(fileId)).text();
        expect({ kind, status: res.status, same: body === own }).toEqual({ kind, status: 200, same: true });
        expect(res.headers.get('content-disposition')).toBe(
          `attachment; filename="${issued.filename}"; filename*=UTF-8''${encodeURIComponent(issued.filename)}`,
        );
        expect(res.headers.get('cache-control')).toBe('no-store');
        expect(Number(res.headers.get('content-length'))).toBe(issued.bytes);
        if (kind === 'input') expect(body).toBe(files.content);
      }
    });

    it("refuses a tampered, incomplete, expired or another file's link with 403 invalid_download_link", async () => {
      const tenant = await gw.newTenant();
      const files = await finishedBatch(tenant);
      const { url, expiresAt } = await link(files.output);
      const signature = new URL(url, gw.url).searchParams.get('signature')!;
      const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
      const refused = {
        tampered: url.replace(`signature=${signature}`, `signature=${flip(signature)}`),
        later: url.replace(`expires=${expiresAt}`, `expires=${expiresAt + 3600}`),
        'another file': url.replace(files.output, files.input),
        'no signature': url.replace(`&signature=${signature}`, ''),
        'no expiry': url.replace(`expires=${expiresAt}&`, ''),
        'bad expiry': url.replace(`expires=${expiresAt}`, `expires=${expiresAt}.5`),
      };
      for (const [what, path] of Object.entries(refused)) {
        const res = await fetch(`${gw.url}${path}`);
        expect({ what, status: res.status, body: await res.json() }).toEqual({
          what,
          status: 403,
          body: { error: { message: expect.any(String), type: 'permission_error', param: expect.any(String), code: 'invalid_download_link' } },
        });
      }

      const clock = gw.app.get(Clock);
      const now = Date.now();
      const later = jest.spyOn(clock, 'nowMs').mockReturnValue(now + 301_000);
      try {
        const res = await fetch(`${gw.url}${url}`);
        expect(res.status).toBe(403);
        expect((await res.json()).error).toMatchObject({ code: 'invalid_download_link', param: 'expires', message: expect.stringMatching(/expired/) });
      } finally {
        later.mockRestore();
      }
      expect((await fetch(`${gw.url}${url}`)).status).toBe(200);
    });

    it('answers 404 for a file that is gone, and names the unknown file in the mutation error', async () => {
      const tenant = await gw.newTenant();
      const file = await sdkUpload(tenant, lines('series-model', 'gone', ['']));
      const { url } = await link(file.id);
      expect((await tenant.openai.files.delete(file.id)).deleted).toBe(true);
      const res = await fetch(`${gw.url}${url}`);
      expect(res.status).toBe(404);
      expect((await res.json()).error).toMatchObject({ code: 'not_found' });

      const unknown = await admin.request(LINK, { id: 'file-doesnotexist' });
      expect(unknown.data ?? null).toBeNull();
      expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'not_found', status: 404, param: 'fileId' });
    });
  });

  describe('validation errors', () => {
    const PROVIDER = `mutation($input: ProviderUpsertInput!) { upsertProvider(input: $input) { id } }`;
    const SKU = `mutation($input: SkuUpsertInput!) { upsertSku(input: $input) { id } }`;

    it.each([
      ['a provider URL that is not http(s)', PROVIDER, { id: 'p-url', kind: 'openai', baseUrl: 'ftp://example.com' }, 'baseUrl'],
      ['an openai provider without a URL', PROVIDER, { id: 'p-nourl', kind: 'openai' }, 'baseUrl'],
      ['a key variable without the prefix', PROVIDER, { id: 'p-key', kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1', apiKeyEnv: 'ADMIN_TOKEN' }, 'apiKeyEnv'],
      ['a concurrency of 0', PROVIDER, { id: 'p-conc', kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1', maxConcurrency: 0 }, 'maxConcurrency'],
      ['a provider id with a space', PROVIDER, { id: 'p one', kind: 'mock' }, 'id'],
      ['a SKU on an unknown provider', SKU, { id: 's-prov', model: 'm', providerId: 'nope', upstreamModel: 'u' }, 'providerId'],
      ['a SKU with an unknown endpoint', SKU, { id: 's-end', model: 'm', providerId: 'mock', upstreamModel: 'u', endpoints: ['/v1/images'] }, 'endpoints'],
      ['a SKU weight of 0', SKU, { id: 's-weight', model: 'm', providerId: 'mock', upstreamModel: 'u', weight: 0 }, 'weight'],
      ['a model name with a space', SKU, { id: 's-space', model: 'my model', providerId: 'mock', upstreamModel: 'u' }, 'model'],
      [
        'an upstream model longer than the database holds',
        SKU,
        { id: 's-long', model: 'm', providerId: 'mock', upstreamModel: 'u'.repeat(201) },
        'upstreamModel',
      ],
      [
        'a key variable name longer than the database holds',
        PROVIDER,
        { id: 'p-long', kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1', apiKeyEnv: `UPSTREAM_${'K'.repeat(120)}` },
        'apiKeyEnv',
      ],
    ])('names the input field at fault in extensions.param: %s', async (_what, mutation, input, param) => {
      const res = await admin.request(mutation, { input });
      expect(res.data ?? null).toBeNull();
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'invalid_request_error', status: 400, param });
      expect(res.errors?.[0]?.message).not.toMatch(/^\s*[[{]/);
    });
  });

  describe('Batch.request(line:)', () => {
    const ONE = `query($id: ID!, $line: Int!) { batch(id: $id) { request(line: $line) {
      line customId status upstreamStatus errorCode errorMessage responseBody responseBytes truncated
    } } }`;

    it("answers one line's stored answer or error, the body cut at 64 KiB on a character boundary, and null for a line it does not have", async () => {
      const tenant = await gw.newTenant();
      const long = 'é'.repeat(40_000); // 80,000 bytes of UTF-8 in the echoed answer
      const id = await runBatch(tenant, lines('series-model', 'answer', ['', '#status=400', long]));
      await untilFinished(tenant, id);
      const line = async (n: number) => (await admin.query(ONE, { id, line: n })).batch.request;

      const ok = await line(1);
      expect(ok).toMatchObject({ line: 1, customId: 'answer-0', status: 'completed', upstreamStatus: 200, errorCode: null, truncated: false });
      expect(JSON.parse(ok.responseBody).choices[0].message.content).toBe('echo: answer line 0 ');
      expect(ok.responseBytes).toBe(Buffer.byteLength(ok.responseBody));

      const refused = await line(2);
      expect(refused).toMatchObject({ line: 2, status: 'failed', upstreamStatus: 400, truncated: false });
      expect(refused.errorCode).toEqual(expect.any(String));
      expect(refused.responseBody).toEqual(expect.any(String));

      const cut = await line(3);
      expect(cut.truncated).toBe(true);
      expect(cut.responseBytes).toBeGreaterThan(80_000);
      expect(Buffer.byteLength(cut.responseBody)).toBeLessThanOrEqual(65_536);
      expect(Buffer.byteLength(cut.responseBody)).toBeGreaterThan(65_530);
      expect(cut.responseBody).not.toContain('\uFFFD');
      expect(cut.responseBody.endsWith('é')).toBe(true);

      expect(await line(4)).toBeNull();
    });

    it('is priced per body it reads: a page of batches each asking for a line is refused', async () => {
      const res = await admin.request(`{ batches(first: 30) { edges { node { request(line: 1) { line responseBody } } } } }`);
      expect(res.data ?? null).toBeNull();
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'query_too_complex', status: 400 });
    });
  });

  describe('batches(filter: { metadataKey, metadataValue })', () => {
    it('matches metadata literally, wildcards, quotes and backslashes included', async () => {
      const tenant = await gw.newTenant();
      const tagged = async (metadata: Record<string, string>) => {
        const file = await sdkUpload(tenant, lines('batch-test-model', 'meta', ['']));
        const batch = await tenant.openai.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata });
        return batch.id;
      };
      const percent = await tagged({ 'cost%': '100%' });
      const underscore = await tagged({ cost_: 'a_b' });
      const quoted = await tagged({ note: 'say "hi" \\ bye', ключ: 'значение' });
      const ids = async (filter: Record<string, string>) =>
        (
          await admin.query(`query($f: BatchFilter) { batches(filter: $f, first: 50) { edges { node { id } } } }`, {
            f: { accountId: tenant.accountId, ...filter },
          })
        ).batches.edges
          .map((e: any) => e.node.id)
          .sort();
      expect(await ids({ metadataKey: 'cost%', metadataValue: '100%' })).toEqual([percent]);
      expect(await ids({ metadataKey: 'cost%', metadataValue: '1%' })).toEqual([]);
      expect(await ids({ metadataKey: 'cost_' })).toEqual([underscore]);
      expect(await ids({ metadataKey: 'costx' })).toEqual([]);
      expect(await ids({ metadataKey: 'cost_', metadataValue: 'aXb' })).toEqual([]);
      expect(await ids({ metadataKey: 'note', metadataValue: 'say "hi" \\ bye' })).toEqual([quoted]);
      expect(await ids({ metadataKey: 'ключ', metadataValue: 'значение' })).toEqual([quoted]);
    });
  });

  describe('the schema', () => {
    it("is the one committed for the console's type generation", async () => {
      const introspection = await admin.query<IntrospectionQuery>(getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true }));
      const served = printSchema(lexicographicSortSchema(buildClientSchema(introspection)));
      const committed = readFileSync(resolve(__dirname, '..', ADMIN_SCHEMA_FILE), 'utf8');
      expect(committed.replace(/^#.*\n\n/, '')).toBe(`${served}\n`);
    });
  });
});
