import { AccountsService } from '@app/accounts';
import { WebhookDelivery, WebhookDeliveryQueries } from '../libs/admin/src/webhook-deliveries.queries';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Client } from 'pg';
import { adminClient } from './support/admin-client';
import { ChildGateway } from './support/child-gateway';
import { currentDriver } from './support/databases';
import { startGateway, Tenant, testEnvironment, TestGateway, waitFor } from './support/gateway';
import { requestFile } from './support/jsonl';
import { rest, restClient } from './support/rest-client';
import { startWebhookReceiver } from './support/webhook-receiver';
import { expectRefused, PREFIXES, unwrap } from './support/sdk';

/**
 * What a hostile or careless client sends, and what the gateway must make of it: IPv6 spellings of
 * private addresses as webhook targets, an empty callback_url, metadata keys named after
 * Object.prototype members, wrong types that must be reported as such, and a failing query whose
 * parameters must not reach the logs. Every refusal is checked under both envelopes, with nothing stored.
 */

jest.setTimeout(120_000);

function batchBody(inputFileId: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { input_file_id: inputFileId, endpoint: '/v1/chat/completions', completion_window: '24h', ...extra };
}

/** The tenant's batch ids, newest first, as /v1 lists them. */
async function batchIds(gw: TestGateway, tenant: Tenant): Promise<string[]> {
  const res = await rest(gw, tenant.apiKey, 'GET', '/v1/batches?limit=100');
  expect(res.status).toBe(200);
  return res.body.data.map((b: { id: string }) => b.id);
}

async function deliveriesOf(gw: TestGateway, batchId: string): Promise<WebhookDelivery[]> {
  return gw.app.get(WebhookDeliveryQueries).forBatches([batchId]);
}

const SET_WEBHOOK = 'mutation($id: ID!, $url: String) { setAccountWebhook(accountId: $id, url: $url) { id webhookUrl } }';

async function accountWebhook(gw: TestGateway, accountId: string): Promise<string | null> {
  return (await gw.app.get(AccountsService).getAccount(accountId)).webhookUrl;
}

describe('A hostile client', () => {
  let gw: TestGateway;
  let tenant: Tenant;
  let fileId: string;

  beforeAll(async () => {
    gw = await startGateway();
  });

  afterAll(async () => {
    await gw?.close();
  });

  beforeEach(async () => {
    tenant = await gw.newTenant('hostile');
    fileId = await restClient(gw, tenant.apiKey).upload(requestFile(2));
  });

  describe('metadata keys named after Object.prototype members', () => {
    // Written as JSON text: an object literal with a __proto__ key would set its prototype instead.
    const odd = JSON.parse('{"constructor":"c","valueOf":"v","__proto__":"p","toString":"t","hasOwnProperty":"h","prototype":"x"}');

    it('are kept, stored and returned exactly as sent, under both envelopes, the SDK and the admin API', async () => {
      const created: any[] = [];
      for (const prefix of PREFIXES) {
        const batch = unwrap(await rest(gw, tenant.apiKey, 'POST', `${prefix}/batches`, batchBody(fileId, { metadata: odd })), prefix);
        expect(Object.entries(batch.metadata)).toEqual(Object.entries(odd));
        created.push(batch);
      }
      for (const { id } of created) {
        for (const prefix of PREFIXES) {
          const read = unwrap(await rest(gw, tenant.apiKey, 'GET', `${prefix}/batches/${id}`), prefix);
          expect(Object.entries(read.metadata)).toEqual(Object.entries(odd));
          const listed = unwrap(await rest(gw, tenant.apiKey, 'GET', `${prefix}/batches?limit=10`), prefix).data.find((b: any) => b.id === id);
          expect(Object.entries(listed.metadata)).toEqual(Object.entries(odd));
        }
        const viaSdk = await tenant.openai.batches.retrieve(id);
        expect(Object.entries(viaSdk.metadata!)).toEqual(Object.entries(odd));
        const { batch } = await adminClient(gw.url, gw.adminToken).query<{ batch: { metadata: { key: string; value: string }[] } }>(
          'query($id: ID!) { batch(id: $id) { metadata { key value } } }',
          { id },
        );
        expect(batch.metadata).toEqual(Object.entries(odd).map(([key, value]) => ({ key, value })));
      }
      expect(({} as Record<string, unknown>).constructor).toBe(Object);
    });

    it.each([
      ['__proto__ holding an object', '{"__proto__":{"polluted":"yes"}}'],
      ['constructor holding an object', '{"constructor":{"prototype":{"polluted":"yes"}}}'],
      ['constructor holding a number', '{"constructor":5}'],
      ['valueOf holding a 513-character value', `{"valueOf":"${'v'.repeat(513)}"}`],
      ['toString holding null', '{"toString":null}'],
      [
        '16 good pairs and a 17th named constructor',
        JSON.stringify(Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'v']))).replace('{', '{"constructor":"c",'),
      ],
      ['a 65-character key beside __proto__', `{"__proto__":"p","${'k'.repeat(65)}":"v"}`],
    ])('are validated like any other key: %s is refused with 400, nothing stored, nothing polluted', async (_what, metadata) => {
      const error = await expectRefused(gw, tenant.apiKey, 'POST', '/batches', batchBody(fileId, { metadata: JSON.parse(metadata) }));
      expect(error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_request_error', param: 'metadata' });
      expect(await batchIds(gw, tenant)).toEqual([]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
    });

    it('leave the top level alone: a __proto__ or constructor member of the body neither pollutes nor breaks the request', async () => {
      const body = JSON.parse(`{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"input_file_id":"${fileId}"}`);
      const batch = unwrap(await rest(gw, tenant.apiKey, 'POST', '/v1/batches', body), '/v1');
      expect(batch).toMatchObject({ object: 'batch', input_file_id: fileId, metadata: null });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('an empty callback_url', () => {
    it('is refused with 400 invalid_request_error naming callback_url under both envelopes and the SDK, and creates nothing', async () => {
      const error = await expectRefused(gw, tenant.apiKey, 'POST', '/batches', batchBody(fileId, { callback_url: '' }));
      expect(error).toEqual({
        type: 'invalid_request_error',
        code: 'invalid_request_error',
        param: 'callback_url',
        message: expect.stringMatching(/^callback_url must not be empty/),
      });
      const viaSdk = await tenant.openai.batches.create({ ...batchBody(fileId), callback_url: '' } as unknown as OpenAI.BatchCreateParams).then(
        () => null,
        (err: unknown) => err,
      );
      expect(viaSdk).toBeInstanceOf(OpenAI.BadRequestError);
      expect(viaSdk).toMatchObject({ status: 400, param: 'callback_url' });
      expect(await batchIds(gw, tenant)).toEqual([]);
    });

    it("does not suppress the account's default webhook: null and an absent callback_url still deliver to it", async () => {
      const hook = await startWebhookReceiver();
      try {
        await adminClient(gw.url, gw.adminToken).query(SET_WEBHOOK, { id: tenant.accountId, url: `${hook.url}/default` });
        await expectRefused(gw, tenant.apiKey, 'POST', '/batches', batchBody(fileId, { callback_url: '' }));
        const withNull = unwrap(await rest(gw, tenant.apiKey, 'POST', '/v1/batches', batchBody(fileId, { callback_url: null })), '/v1');
        const without = unwrap(await rest(gw, tenant.apiKey, 'POST', '/api/v1/batches', batchBody(fileId)), '/api/v1');
        expect([withNull.callback_url, without.callback_url]).toEqual([null, null]);
        const requests = await hook.waitForRequests(2);
        expect(requests.map((r) => r.path)).toEqual(['/default', '/default']);
        expect(requests.map((r) => JSON.parse(r.body).data.id).sort()).toEqual([withNull.id, without.id].sort());
        expect(await batchIds(gw, tenant)).toHaveLength(2);
      } finally {
        await hook.close();
      }
    });

    it('is refused the same way as an account default webhook by the admin API, which keeps the stored URL', async () => {
      const admin = adminClient(gw.url, gw.adminToken);
      const stored = 'https://hooks.example.com/default';
      await admin.query(SET_WEBHOOK, { id: tenant.accountId, url: stored });
      for (const url of ['', '   ', 'https://user:secret@hooks.example.com/x', 'not a url']) {
        const res = await admin.request(SET_WEBHOOK, { id: tenant.accountId, url });
        expect({ url, data: res.data ?? null, code: res.errors?.[0]?.extensions?.code, param: res.errors?.[0]?.extensions?.param }).toEqual({
          url,
          data: null,
          code: 'invalid_request_error',
          param: 'url',
        });
        expect(await accountWebhook(gw, tenant.accountId)).toBe(stored);
      }
      // the same URLs are refused as a batch's callback_url
      for (const callback_url of ['   ', 'https://user:secret@hooks.example.com/x', 'not a url']) {
        const error = await expectRefused(gw, tenant.apiKey, 'POST', '/batches', batchBody(fileId, { callback_url }));
        expect({ callback_url, param: error.param }).toEqual({ callback_url, param: 'callback_url' });
      }
      expect(await batchIds(gw, tenant)).toEqual([]);
      expect((await admin.query(SET_WEBHOOK, { id: tenant.accountId, url: null })).setAccountWebhook.webhookUrl).toBeNull();
    });
  });

  describe('validation messages', () => {
    it.each([
      ['a missing input_file_id', batchBody(undefined), 'input_file_id', 'input_file_id is required'],
      ['a null input_file_id', batchBody(null), 'input_file_id', 'input_file_id is required'],
      ['a numeric input_file_id', batchBody(42), 'input_file_id', 'input_file_id must be a string'],
      ['an object as input_file_id', batchBody({ id: 'file-x' }), 'input_file_id', 'input_file_id must be a string'],
      ['an empty input_file_id', batchBody(''), 'input_file_id', 'input_file_id must be longer than or equal to 1 characters'],
      ['a 65-character input_file_id', batchBody('f'.repeat(65)), 'input_file_id', 'input_file_id must be shorter than or equal to 64 characters'],
      ['a numeric callback_url', batchBody('file-x', { callback_url: 7 }), 'callback_url', 'callback_url must be a string'],
    ])('report the first real reason for %s', async (_what, body, param, message) => {
      const error = await expectRefused(gw, tenant.apiKey, 'POST', '/batches', body);
      expect(error).toEqual({ type: 'invalid_request_error', code: 'invalid_request_error', param, message });
      expect(await batchIds(gw, tenant)).toEqual([]);
    });

    it.each([
      ['/batches', 'limit=abc', 'limit must be an integer number'],
      ['/batches', 'limit=2.5', 'limit must be an integer number'],
      ['/batches', 'limit=0', 'limit must not be less than 1'],
      ['/batches', 'limit=101', 'limit must not be greater than 100'],
      ['/files', 'limit=abc', 'limit must be an integer number'],
      ['/files', 'limit=1e3x', 'limit must be an integer number'],
      ['/files', 'limit=0', 'limit must not be less than 1'],
      ['/files', 'limit=10001', 'limit must not be greater than 10000'],
    ])('report the first real reason for GET %s?%s', async (path, query, message) => {
      const error = await expectRefused(gw, tenant.apiKey, 'GET', `${path}?${query}`, undefined);
      expect(error).toEqual({ type: 'invalid_request_error', code: 'invalid_request_error', param: 'limit', message });
    });
  });
});

describe('SSRF with WEBHOOK_ALLOW_PRIVATE=false', () => {
  let gw: TestGateway;
  let tenant: Tenant;
  let fileId: string;

  beforeAll(async () => {
    gw = await startGateway({ WEBHOOK_ALLOW_HTTP: 'false', WEBHOOK_ALLOW_PRIVATE: 'false', WEBHOOK_RETRY_DELAYS_MS: '600000' });
  });

  afterAll(async () => {
    await gw?.close();
  });

  beforeEach(async () => {
    tenant = await gw.newTenant('ssrf');
    fileId = await restClient(gw, tenant.apiKey).upload(requestFile(1));
  });

  const embedded = [
    'https://[::127.0.0.1]/hook', // IPv4-compatible
    'https://[::169.254.169.254]/latest/meta-data',
    'https://[::ffff:127.0.0.1]/hook', // IPv4-mapped
    'https://[::ffff:0:10.0.0.1]/hook', // IPv4-translated
    'https://[64:ff9b::127.0.0.1]/hook', // NAT64
    'https://[64:ff9b::192.168.0.1]:8443/hook',
    'https://[2002:7f00:1::1]/hook', // 6to4 of 127.0.0.1
    'https://[2002:a9fe:a9fe::]/hook', // 6to4 of 169.254.169.254
    'https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook', // Teredo, client 127.0.0.1
    'https://[2001:db8::1]/hook', // documentation: not global unicast
  ];

  it.each(embedded)('refuses callback_url %s under both envelopes with 400, creating nothing', async (url) => {
    const error = await expectRefused(gw, tenant.apiKey, 'POST', '/batches', batchBody(fileId, { callback_url: url }));
    expect(error).toMatchObject({
      type: 'invalid_request_error',
      code: 'invalid_request_error',
      param: 'callback_url',
      message: expect.stringMatching(/is not public/),
    });
    expect(await batchIds(gw, tenant)).toEqual([]);
  });

  it('refuses the same addresses as an account default webhook in the admin API, keeping the stored URL', async () => {
    const admin = adminClient(gw.url, gw.adminToken);
    for (const url of embedded) {
      const res = await admin.request(SET_WEBHOOK, { id: tenant.accountId, url });
      expect({ url, code: res.errors?.[0]?.extensions?.code, data: res.data ?? null }).toEqual({ url, code: 'invalid_request_error', data: null });
    }
    expect(await accountWebhook(gw, tenant.accountId)).toBeNull();
  });

  it('never contacts an IPv4-compatible address stored without the create-time check, and records the refusal', async () => {
    const hook = await startWebhookReceiver();
    try {
      await gw.app.get(AccountsService).setWebhookUrl(tenant.accountId, `https://[::127.0.0.1]:${hook.port}/hook`);
      const batch = await restClient(gw, tenant.apiKey).createBatch(fileId);
      const [delivery] = await waitFor(
        () => deliveriesOf(gw, batch.id),
        (d) => d.length > 0 && d[0].status !== 'pending',
      );
      expect(delivery).toMatchObject({ status: 'failed', attempts: 1, lastError: 'refused: the address ::7f00:1 is not public' });
      expect(hook.requests).toHaveLength(0);
    } finally {
      await hook.close();
    }
  });
});

describe('A failing query', () => {
  it('is logged by TypeORM as one JSON line with the statement and without its parameters', async () => {
    const { env, cleanup } = await testEnvironment();
    const apiKey = `sk-hostile-${randomBytes(12).toString('hex')}`;
    const marker = `marker-${randomBytes(8).toString('hex')}`;
    const child = new ChildGateway({ ...env, LOG_LEVEL: 'info', BOOTSTRAP_API_KEY: apiKey });
    try {
      await child.start(apiKey);
      // The database refuses any batch whose metadata holds the marker, so the INSERT fails with the marker among its parameters.
      if (currentDriver() === 'postgres') {
        const pg = new Client({ connectionString: env.DATABASE_URL });
        await pg.connect();
        await pg.query(`ALTER TABLE batches ADD CONSTRAINT hostile_marker CHECK (metadata IS NULL OR metadata NOT LIKE '%marker-%')`);
        await pg.end();
      } else {
        const db = new Database(join(env.DATA_DIR, 'gateway.sqlite'));
        db.exec(
          `CREATE TRIGGER hostile_marker BEFORE INSERT ON batches WHEN NEW.metadata LIKE '%marker-%' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
        );
        db.close();
      }
      const api = restClient(child, apiKey);
      const fileId = await api.upload(requestFile(1));
      const res = await rest(child, apiKey, 'POST', '/v1/batches', batchBody(fileId, { metadata: { note: marker } }));
      expect(res.status).toBe(500);

      const lines = await waitFor(
        async () => child.output.split('\n').filter((l) => l.trim() !== ''),
        (ls) => ls.some((l) => l.includes('"Query failed"')) && ls.some((l) => l.includes('"request failed"')),
        10_000,
      );
      const notJson = lines.filter((l) => {
        try {
          return typeof JSON.parse(l) !== 'object';
        } catch {
          return true;
        }
      });
      expect(notJson).toEqual([]);
      const failed = lines.map((l) => JSON.parse(l)).filter((r) => r.msg === 'Query failed');
      expect(failed).toEqual([
        expect.objectContaining({ level: 40, context: 'TypeORM', query: expect.stringMatching(/^INSERT INTO "batches"/), error: expect.any(String) }),
      ]);
      // Neither that line nor any other (the 500's own "Unhandled error" line included) holds the values.
      expect(lines.filter((l) => l.includes(marker))).toEqual([]);
      expect(lines.filter((l) => l.includes(apiKey))).toEqual([]);
    } finally {
      await child.stop('SIGKILL');
      await cleanup();
    }
  });
});

describe('A revoked API key', () => {
  /** The key cache's lifetime in AccountsService: without an announcement, another process would accept the key this long. */
  const KEY_CACHE_TTL_MS = 5_000;
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway();
  });

  afterAll(async () => {
    await gw?.close();
  });

  /** A second key of the tenant, used once on each target so that every process has it cached; returns it and when that began. */
  async function cachedKey(tenant: Tenant, targets: { url: string }[]): Promise<{ id: string; secret: string; cachedFrom: number }> {
    const admin = adminClient(gw.url, gw.adminToken);
    const { createApiKey } = await admin.query<{ createApiKey: { id: string; secret: string } }>(
      'mutation($id: ID!) { createApiKey(accountId: $id) { id secret } }',
      { id: tenant.accountId },
    );
    const cachedFrom = Date.now();
    for (const target of targets) expect((await rest(target, createApiKey.secret, 'GET', '/v1/batches')).status).toBe(200);
    return { ...createApiKey, cachedFrom };
  }

  async function revoke(id: string): Promise<void> {
    const { revokeApiKey } = await adminClient(gw.url, gw.adminToken).query<{ revokeApiKey: { revokedAt: number | null } }>(
      'mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }',
      { id },
    );
    expect(revokeApiKey.revokedAt).toEqual(expect.any(Number));
  }

  async function expectRevokedEverywhere(targets: { url: string }[], secret: string): Promise<void> {
    for (const target of targets) {
      for (const prefix of PREFIXES) {
        const res = await rest(target, secret, 'GET', `${prefix}/batches`);
        expect({ prefix, status: res.status }).toEqual({ prefix, status: 401 });
      }
    }
  }

  if (currentDriver() === 'postgres') {
    it('stops working on another API process at once (announced through Redis), long before its cache entry would expire', async () => {
      const tenant = await gw.newTenant('revoked');
      const other = new ChildGateway({ ...gw.env, ROLE: 'api' }, undefined, 'second api process');
      try {
        await other.start(tenant.apiKey);
        const key = await cachedKey(tenant, [gw, other]);
        await revoke(key.id);
        const status = await waitFor(
          async () => (await rest(other, key.secret, 'GET', '/v1/batches')).status,
          (s) => s === 401,
          KEY_CACHE_TTL_MS,
          20,
        );
        expect(status).toBe(401);
        // The second process cached the key after cachedFrom, so only the announcement can have cleared it this early.
        expect(Date.now() - key.cachedFrom).toBeLessThan(KEY_CACHE_TTL_MS);
        await expectRevokedEverywhere([gw, other], key.secret);
        // the tenant's other key is untouched
        expect((await rest(other, tenant.apiKey, 'GET', '/api/v1/batches')).status).toBe(200);
      } finally {
        await other.stop('SIGKILL');
      }
    });
  } else {
    it('stops working at once in the one process of the embedded drivers', async () => {
      const tenant = await gw.newTenant('revoked');
      const key = await cachedKey(tenant, [gw]);
      await revoke(key.id);
      await expectRevokedEverywhere([gw], key.secret);
      expect((await rest(gw, tenant.apiKey, 'GET', '/api/v1/batches')).status).toBe(200);
    });
  }
});
