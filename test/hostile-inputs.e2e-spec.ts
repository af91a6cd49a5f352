import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { adminClient } from './support/admin-client';
import { ChildGateway } from './support/child-gateway';
import { FakeUpstream, fakeRouting, startFakeUpstream } from './support/fake-upstream';
import { startGateway, Tenant, TestGateway, testEnvironment, waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { BatchObject, rest, RestClient, restClient, TERMINAL } from './support/rest-client';

/**
 * Poison input lines and hostile upstreams: every batch still ends, every line ends exactly once in a
 * valid JSONL output or error file with a documented code, no line is sent more often than the retry
 * policy allows, bad requests get catalogued 4xx answers (never a 500), and the process stays healthy
 * with bounded memory. Runs on both drivers (SQLite + in-process queue, PostgreSQL + Bull/Redis).
 */

const MODEL = 'hostile-model';
const API_KEY = `sk-hostile${randomBytes(12).toString('hex')}`;
const MAX_ATTEMPTS = 2;
const MAX_RESPONSE_BYTES = 1024 * 1024;
const TIMEOUT_MS = 1500;

jest.setTimeout(180_000);

const tag = () => randomBytes(4).toString('hex');
const line = (customId: string, content: string, model = MODEL) => ({
  ...requestLine(0, model, { messages: [{ role: 'user', content }] }),
  custom_id: customId,
});

/** The raw text of a file's content, so that the test sees its physical lines and not a parser's view of them. */
async function rawContent(target: { url: string }, fileId: string | null): Promise<string> {
  if (!fileId) return '';
  const res = await fetch(`${target.url}/v1/files/${fileId}/content`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  return res.text();
}

/** Every physical line of a result file parses on its own (the file is JSONL); returns them by custom_id. */
function jsonlLines(text: string): Map<string, any> {
  const physical = text.split('\n');
  expect(physical.pop()).toBe('');
  const byId = new Map<string, any>();
  for (const l of physical) {
    const parsed = JSON.parse(l);
    expect(byId.has(parsed.custom_id)).toBe(false);
    byId.set(parsed.custom_id, parsed);
  }
  return byId;
}

describe('Hostile inputs', () => {
  describe('hostile upstream answers, with the gateway in a child process', () => {
    let upstream: FakeUpstream;
    let gateway: ChildGateway;
    let api: RestClient;
    let cleanup: () => Promise<void>;
    let dataDir: string;
    let startupPeakMb: number;

    beforeAll(async () => {
      upstream = await startFakeUpstream();
      const environment = await testEnvironment(
        {
          BOOTSTRAP_API_KEY: API_KEY,
          UPSTREAM_FAKE_KEY: 'fake-key',
          UPSTREAM_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
          UPSTREAM_MAX_RESPONSE_BYTES: String(MAX_RESPONSE_BYTES),
        },
        fakeRouting(upstream.url, { model: MODEL, maxConcurrency: 8, timeoutMs: TIMEOUT_MS }),
      );
      cleanup = environment.cleanup;
      dataDir = environment.env.DATA_DIR;
      gateway = new ChildGateway(environment.env, 'apps/gateway/src/main.ts', 'hostile gateway');
      await gateway.start(API_KEY);
      api = restClient(gateway, API_KEY);
      startupPeakMb = gateway.peakRssMb();
    });

    afterAll(async () => {
      await gateway?.stop('SIGKILL');
      await upstream?.close();
      await cleanup?.();
    });

    async function untilEnded(batchId: string): Promise<BatchObject> {
      try {
        return await waitFor(
          () => api.batch(batchId),
          (b) => TERMINAL.includes(b.status),
          120_000,
          100,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${gateway.tail()}`, { cause: err });
      }
    }

    it('ends every line of a batch of hostile answers exactly once, in valid JSONL, within the retry policy and bounded memory', async () => {
      const t = tag();
      const cases = {
        plain: `plain ${t}`,
        pretty: `pretty ${t} #pretty`,
        nonjson: `nonjson ${t} #nonjson`,
        reset: `reset ${t} #reset`,
        huge1: `huge one ${t} #huge=50`,
        huge2: `huge two ${t} #huge=50`,
        huge3: `huge three ${t} #huge-declared=50`,
        huge4: `huge four ${t} #huge=50`,
        trickle: `trickle ${t} #trickle=500`,
        nul: `nul ${t} #nul`,
        deep: `deep ${t} #deep`,
        refused: `refused ${t} #status=400`,
      };
      const lines = Object.entries(cases).map(([id, content]) => line(id, content));
      const created = await api.createBatch(await api.upload(jsonl(lines)));
      const batch = await untilEnded(created.id);

      expect(batch.status).toBe('completed');
      const output = jsonlLines(await rawContent(gateway, batch.output_file_id));
      const errors = jsonlLines(await rawContent(gateway, batch.error_file_id));
      expect([...output.keys(), ...errors.keys()].sort()).toEqual(Object.keys(cases).sort());
      expect(batch.request_counts).toEqual({ total: lines.length, completed: output.size, failed: errors.size });

      // Answers that are JSON (pretty-printed or not) or text are kept, compacted onto one line.
      expect(output.get('plain').response.body.choices[0].message.content).toBe(`echo: ${cases.plain}`);
      expect(output.get('pretty').response.body.choices[0].message.content).toBe(`echo: ${cases.pretty}`);
      expect(output.get('nonjson').response.body).toBe('plain text\nover two lines');
      expect(output.get('deep').response.body).toMatch(/^\[{100}/);

      // Answers that never complete end with their codes, after no more attempts than the policy allows.
      expect(errors.get('reset')).toMatchObject({ response: null, error: { code: 'upstream_disconnected' } });
      expect(upstream.attempts.get(cases.reset)).toBe(MAX_ATTEMPTS);
      expect(errors.get('trickle')).toMatchObject({ response: null, error: { code: 'upstream_timeout' } });
      expect(upstream.attempts.get(cases.trickle)).toBe(MAX_ATTEMPTS);
      for (const id of ['huge1', 'huge2', 'huge3', 'huge4'] as const) {
        expect(errors.get(id)).toMatchObject({ response: null, error: { code: 'upstream_response_too_large' } });
        expect(upstream.attempts.get(cases[id])).toBe(1); // an answer too large is not asked for again
      }
      expect(errors.get('refused')).toMatchObject({ response: { status_code: 400 }, error: null });
      expect(upstream.attempts.get(cases.refused)).toBe(1);
      // A NUL in an upstream's error message is stored (PostgreSQL refuses NUL in text) and kept in the body as sent.
      expect(errors.get('nul').response.body.error.message).toBe('bad\u0000request');
      // Its classification (upstream_client_error, message without NUL) is stored for operators; the file line, as OpenAI's, has error null.
      expect(errors.get('nul').error).toBeNull();
      for (const id of ['plain', 'pretty', 'nonjson', 'deep']) expect(upstream.attempts.get(cases[id as keyof typeof cases])).toBe(1);

      // Four 50 MB answers used to take the process from about 220 MB to 2.4 GB.
      expect(gateway.peakRssMb() - startupPeakMb).toBeLessThan(200);
      expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    });

    it('reads a line with a UTF-8 byte-order mark the same way at upload and at execution', async () => {
      const t = tag();
      const lines = Array.from({ length: 6 }, (_, i) => line(`bom-${i}`, `bom ${t} ${i}`));
      const text = lines.map((l, i) => (i === 0 || i === 3 ? '\uFEFF' : '') + JSON.stringify(l)).join('\n') + '\n';
      const batch = await untilEnded((await api.createBatch(await api.upload(text))).id);

      expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 6, completed: 6, failed: 0 } });
      const output = jsonlLines(await rawContent(gateway, batch.output_file_id));
      expect([...output.keys()].sort()).toEqual(lines.map((l) => l.custom_id).sort());
      for (let i = 0; i < 6; i++) expect(upstream.attempts.get(`bom ${t} ${i}`)).toBe(1);
    });

    it('ends a line that cannot be run as an error line of its own, and runs the rest of its chunk once', async () => {
      const t = tag();
      const lines = Array.from({ length: 8 }, (_, i) => line(`poison-${i}`, `poison ${t} ${i}`));
      const text = jsonl(lines);
      const fileId = await api.upload(text);
      // The stored line 3 changes after it was checked (a disk fault, or a file checked by older rules).
      const offset = Buffer.byteLength(jsonl(lines.slice(0, 2)));
      const length = Buffer.byteLength(JSON.stringify(lines[2]));
      const fd = openSync(join(dataDir, 'files', `${fileId}.jsonl`), 'r+');
      writeSync(fd, Buffer.from('{' + '\u0000'.repeat(length - 1)), 0, length, offset);
      closeSync(fd);

      const batch = await untilEnded((await api.createBatch(fileId)).id);
      expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 8, completed: 7, failed: 1 } });
      const errors = jsonlLines(await rawContent(gateway, batch.error_file_id));
      expect(errors.get('poison-2')).toMatchObject({ response: null, error: { code: 'invalid_request_line' } });
      expect(upstream.attempts.has(`poison ${t} 2`)).toBe(false);
      for (const i of [0, 1, 3, 4, 5, 6, 7]) expect(upstream.attempts.get(`poison ${t} ${i}`)).toBe(1);
    });

    it('keeps a batch whose stored lines cannot be read back paused, not spinning: nothing sent, a warning a tick at most, and it cancels cleanly', async () => {
      const t = tag();
      const lines = Array.from({ length: 120 }, (_, i) => line(`gone-${i}`, `gone ${t} ${i}`));
      const fileId = await api.upload(jsonl(lines));
      rmSync(join(dataDir, 'files', `${fileId}.jsonl`));
      const before = upstream.totalRequests();
      const logBefore = gateway.output.length;
      const created = await api.createBatch(fileId);
      await waitFor(
        () => api.batch(created.id),
        (b) => b.status === 'in_progress',
      );
      const warnings = () =>
        gateway.output
          .slice(logBefore)
          .split('\n')
          .filter((l) => l.includes(created.id) && l.includes('could not be sent')).length;
      await waitFor(
        async () => warnings(),
        (n) => n >= 1,
        10_000,
      );
      const first = warnings();
      const since = Date.now();
      await waitFor(
        async () => warnings(),
        (n) => n >= first + 3,
        10_000,
      );
      // Three more warnings took about three scheduler ticks (500 ms each): a pause per tick, not a spin.
      expect(Date.now() - since).toBeGreaterThanOrEqual(900);
      expect(upstream.totalRequests()).toBe(before);
      expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);

      await api.cancel(created.id);
      const ended = await untilEnded(created.id);
      expect(ended).toMatchObject({ status: 'cancelled', request_counts: { total: 120, completed: 0, failed: 120 } });
      const errors = jsonlLines(await rawContent(gateway, ended.error_file_id));
      expect(errors.size).toBe(120);
      expect(new Set([...errors.values()].map((e) => e.error.code))).toEqual(new Set(['batch_cancelled']));
    });
  });

  describe('poison requests, with the gateway in this process', () => {
    let gw: TestGateway;
    let tenant: Tenant;

    beforeAll(async () => {
      gw = await startGateway();
    });
    afterAll(() => gw?.close());
    beforeEach(async () => {
      tenant = await gw.newTenant('hostile');
    });

    async function upload(content: string): Promise<string> {
      return restClient(gw, tenant.apiKey).upload(content);
    }

    async function expectNoBatches(): Promise<void> {
      const list = await rest(gw, tenant.apiKey, 'GET', '/v1/batches');
      expect(list).toEqual({ status: 200, body: expect.objectContaining({ data: [] }) });
    }

    it.each([
      ['a NUL in custom_id', { custom_id: 'a\u0000b' }, 'custom_id must not contain NUL characters'],
      ['a NUL in body.model', { body: { model: 'batch-test-model\u0000', messages: [] } }, 'body.model must not contain NUL characters'],
      ['a model name over 256 characters', { body: { model: 'm'.repeat(300), messages: [] } }, 'body.model must be at most 256 characters'],
      ['"stream": true', { body: { model: 'batch-test-model', messages: [], stream: true } }, 'body.stream is not supported in a batch'],
      [
        'a body nested 100 levels deep',
        { body: { model: 'batch-test-model', messages: [], extra: JSON.parse('['.repeat(100) + ']'.repeat(100)) } },
        'body must not nest objects and arrays more than 64 levels deep',
      ],
    ])('refuses a file with %s at create, naming the line, under both envelopes', async (_name, override, reason) => {
      const fileId = await upload(jsonl([requestLine(1), { ...requestLine(2), ...override }]));
      const openai = await rest(gw, tenant.apiKey, 'POST', '/v1/batches', {
        input_file_id: fileId,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      expect(openai.status).toBe(400);
      expect(openai.body.error).toMatchObject({ code: 'batch_invalid_jsonl', param: 'input_file_id' });
      expect(openai.body.error.message).toContain(`Line 2: ${reason}`);
      const dashscope = await rest(gw, tenant.apiKey, 'POST', '/api/v1/batches', { input_file_id: fileId });
      expect(dashscope).toEqual({ status: 400, body: { success: false, code: 'batch_invalid_jsonl', message: openai.body.error.message, data: null } });
      await expectNoBatches();
    });

    it('keeps a bounded model list for a file of many long model names, and answers create with a short message', async () => {
      const lines = Array.from({ length: 20 }, (_, i) => requestLine(i, `${'m'.repeat(250)}-${i}`));
      const fileId = await upload(jsonl(lines));
      const created = await rest(gw, tenant.apiKey, 'POST', '/v1/batches', {
        input_file_id: fileId,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      expect(created.status).toBe(400);
      expect(created.body.error.code).toBe('batch_multiple_models');
      expect(created.body.error.message).toMatch(/uses at least 8:/);
      expect(created.body.error.message.length).toBeLessThan(4096);
      expect((await rest(gw, tenant.apiKey, 'GET', `/v1/files/${fileId}`)).status).toBe(200);
      await expectNoBatches();
    });

    it.each([
      ['GET', '/v1/files/%00'],
      ['GET', '/v1/files/%00/content'],
      ['DELETE', '/v1/files/file-%00'],
      ['GET', '/v1/batches/%00'],
      ['POST', '/v1/batches/batch_%00/cancel'],
      ['GET', '/v1/batches?after=%00'],
      ['GET', '/v1/files?after=ab%00'],
    ])('answers %s %s (a NUL in an id or cursor) with 400, not 500, under both envelopes', async (method, path) => {
      const openai = await rest(gw, tenant.apiKey, method, path);
      expect(openai.status).toBe(400);
      expect(openai.body.error).toMatchObject({ code: 'invalid_request_error', message: expect.stringContaining('must not contain NUL characters') });
      const dashscope = await rest(gw, tenant.apiKey, method, path.replace('/v1/', '/api/v1/'));
      expect(dashscope).toEqual({ status: 400, body: { success: false, code: 'invalid_request_error', message: openai.body.error.message, data: null } });
    });

    it('answers a NUL in a GraphQL argument with invalid_request_error, not an internal error', async () => {
      const admin = adminClient(gw.url, gw.adminToken);
      const res = await admin.request('query($id: ID!) { batch(id: $id) { id } }', { id: 'batch_\u0000' });
      expect(res.errors?.[0].extensions).toMatchObject({ code: 'invalid_request_error', status: 400 });
    });

    it('keeps an uploaded filename with control characters or of any length, made safe; a NUL or a raw control character is a 400 that leaves nothing stored', async () => {
      const uploadAs = async (filename: string) => {
        const form = new FormData();
        form.append('purpose', 'batch');
        form.append('file', new Blob([jsonl([requestLine(1)])]), filename);
        const res = await fetch(`${gw.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${tenant.apiKey}` }, body: form });
        return { status: res.status, body: await res.json() };
      };
      // Control characters arrive only percent-encoded (RFC 5987 filename*): busboy refuses them raw.
      const boundary = `b${tag()}`;
      const raw = (encoded: string) =>
        [
          `--${boundary}`,
          'Content-Disposition: form-data; name="purpose"',
          '',
          'batch',
          `--${boundary}`,
          `Content-Disposition: form-data; name="file"; filename*=UTF-8''${encoded}`,
          'Content-Type: application/jsonl',
          '',
          jsonl([requestLine(1)]),
          `--${boundary}--`,
          '',
        ].join('\r\n');
      const uploadEncoded = async (encoded: string) => {
        const res = await fetch(`${gw.url}/v1/files`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
          body: raw(encoded),
        });
        return { status: res.status, body: await res.json() };
      };
      expect(await uploadEncoded('bell%07name%1B.jsonl')).toEqual({ status: 200, body: expect.objectContaining({ filename: 'bell_name_.jsonl' }) });
      const stored = () => readdirSync(join(gw.config.dataDir, 'files')).sort();
      const before = stored();
      expect(await uploadEncoded('nul%00name.jsonl')).toEqual({
        status: 400,
        body: { error: expect.objectContaining({ code: 'invalid_request_error', message: expect.stringContaining('must not contain NUL characters') }) },
      });
      expect(stored()).toEqual(before); // the refused upload left nothing behind
      const long = await uploadAs(`${'x'.repeat(600)}.jsonl`);
      expect(long).toEqual({ status: 200, body: expect.objectContaining({ filename: 'x'.repeat(255) }) });
      expect((await rest(gw, tenant.apiKey, 'GET', `/v1/files/${long.body.id}`)).body.filename).toBe('x'.repeat(255));
      const nul = await uploadAs('raw\u0007name.jsonl');
      expect(nul).toEqual({ status: 400, body: { error: expect.objectContaining({ code: 'invalid_request_error' }) } });
    });

    describe('request bodies the JSON parser refuses', () => {
      const send = (path: string, body: Uint8Array | string, headers: Record<string, string>) =>
        fetch(`${gw.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${path === '/graphql' ? gw.adminToken : tenant.apiKey}`, ...headers },
          body: typeof body === 'string' ? body : new Uint8Array(body),
        }).then(async (r) => ({ status: r.status, body: await r.json() }));
      const json = { 'content-type': 'application/json' };
      const oversized = JSON.stringify({ input_file_id: 'file-x', metadata: { a: 'x'.repeat(2 * 1024 * 1024) } });
      const brotli = brotliCompressSync(Buffer.from(JSON.stringify({ input_file_id: 'file-x' })));
      const bomb = gzipSync(Buffer.from(JSON.stringify({ input_file_id: 'file-x', pad: '0'.repeat(64 * 1024 * 1024) })));

      it.each([
        ['a body over the limit', oversized, json, 413, 'request_too_large'],
        ['charset=foo', '{"input_file_id":"file-x"}', { 'content-type': 'application/json; charset=foo' }, 415, 'unsupported_media_type'],
        ['Content-Encoding: compress', '{"input_file_id":"file-x"}', { ...json, 'content-encoding': 'compress' }, 415, 'unsupported_media_type'],
        [
          'Content-Encoding: br with data that is not brotli',
          '{"input_file_id":"file-x"}',
          { ...json, 'content-encoding': 'br' },
          400,
          'invalid_request_error',
        ],
        ['Content-Encoding: br with a brotli body (decoded, then an unknown file)', brotli, { ...json, 'content-encoding': 'br' }, 404, 'not_found'],
        ['a gzip bomb', bomb, { ...json, 'content-encoding': 'gzip' }, 413, 'request_too_large'],
        ['malformed JSON', '{"input_file_id":', json, 400, 'invalid_request_error'],
      ])('answers %s with its status and code under both envelopes', async (_name, body, headers, status, code) => {
        const openai = await send('/v1/batches', body, headers);
        expect(openai).toEqual({ status, body: { error: expect.objectContaining({ code }) } });
        const dashscope = await send('/api/v1/batches', body, headers);
        expect(dashscope).toEqual({ status, body: { success: false, code, message: openai.body.error.message, data: null } });
        await expectNoBatches();
      });

      it('answers a /graphql body over the limit with 413, not 500', async () => {
        const res = await send('/graphql', JSON.stringify({ query: `{ accounts { id } }`, pad: 'x'.repeat(2 * 1024 * 1024) }), json);
        expect(res.status).toBe(413);
        expect(JSON.stringify(res.body)).toContain('request_too_large');
      });
    });

    it('refuses a provider whose api_key_env lacks the configured prefix, through the admin API', async () => {
      const admin = adminClient(gw.url, gw.adminToken);
      for (const apiKeyEnv of ['ADMIN_TOKEN', 'DATABASE_URL', 'BOOTSTRAP_API_KEY']) {
        const res = await admin.request(`mutation($p: ProviderUpsertInput!) { upsertProvider(input: $p) { id } }`, {
          p: { id: `leak-${tag()}`, kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv, maxConcurrency: 1 },
        });
        expect(res.errors?.[0]).toMatchObject({
          message: expect.stringContaining('api_key_env must start with UPSTREAM_'),
          extensions: { code: 'invalid_request_error' },
        });
      }
      const providers = await admin.query<{ providers: { id: string }[] }>('{ providers { id } }');
      expect(providers.providers.filter((p) => p.id.startsWith('leak-'))).toEqual([]);
    });
  });

  it('refuses to boot on a routing file whose api_key_env lacks the prefix, naming it', async () => {
    const routing = fakeRouting('http://127.0.0.1:9/v1');
    routing.providers[0].api_key_env = 'ADMIN_TOKEN';
    const { env, cleanup } = await testEnvironment({}, routing);
    try {
      const child = new ChildGateway(env);
      const exited = once(child.launch(), 'exit');
      const [code] = await exited;
      expect(code).toBe(1);
      expect(child.output).toMatch(
        /ROUTING_FILE \S+ is invalid: Provider 'fake': api_key_env must start with UPSTREAM_ \(API_KEY_ENV_PREFIX\); got ADMIN_TOKEN/,
      );
    } finally {
      await cleanup();
    }
  });
});
