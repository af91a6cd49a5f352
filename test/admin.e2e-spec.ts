import { AdminModule } from '@app/admin';
import { RoutingService } from '@app/routing';
import { randomBytes } from 'node:crypto';
import { AdminClient, adminClient } from './support/admin-client';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { startGateway, TestGateway, waitFor } from './support/gateway';
import { jsonl, requestFile } from './support/jsonl';
import { rest, RestAnswer, restUpload } from './support/rest-client';
import { openaiProvider, sku } from './support/routing';
import { PREFIXES, Prefix, TERMINAL, unwrap } from './support/sdk';

/**
 * The operators' GraphQL API end to end: the admin token guard, accounts and keys that REST clients
 * then use, the batches connection (filters, cursor pagination), batch detail, cancel, and routing
 * changes that apply to new batches while running ones keep the SKU they locked.
 */

jest.setTimeout(60_000);

/** The error code of a REST answer under either envelope. */
function errorCode(res: RestAnswer, prefix: Prefix): string | undefined {
  return prefix === '/v1' ? res.body?.error?.code : res.body?.code;
}

async function uploadFile(gw: TestGateway, key: string, content: string, prefix: Prefix = '/v1'): Promise<string> {
  return unwrap(await restUpload(gw, key, content, prefix), prefix).id;
}

async function createBatch(gw: TestGateway, key: string, fileId: string, metadata?: Record<string, string>, prefix: Prefix = '/v1'): Promise<any> {
  const body = { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h', ...(metadata ? { metadata } : {}) };
  return unwrap(await rest(gw, key, 'POST', `${prefix}/batches`, body), prefix);
}

async function batchOf(gw: TestGateway, key: string, content: string, metadata?: Record<string, string>, prefix: Prefix = '/v1'): Promise<any> {
  return createBatch(gw, key, await uploadFile(gw, key, content, prefix), metadata, prefix);
}

/** The result lines (output or error file) of a finished batch, parsed. */
async function resultLines(gw: TestGateway, key: string, fileId: string | null): Promise<any[]> {
  if (!fileId) return [];
  const res = await rest(gw, key, 'GET', `/v1/files/${fileId}/content`);
  expect(res.status).toBe(200);
  const text = typeof res.body === 'string' ? res.body : `${JSON.stringify(res.body)}\n`;
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}

const uniqueName = (base: string) => `${base}-${randomBytes(4).toString('hex')}`;

const BATCH_STATUS = `query($id: ID!) { batch(id: $id) { id status requestCounts { total completed failed } progress sku { id } } }`;

async function batchStatus(admin: AdminClient, id: string): Promise<any> {
  const { batch } = await admin.query(BATCH_STATUS, { id });
  return batch;
}

function waitForStatus(admin: AdminClient, id: string, statuses: string[], timeoutMs = 30_000): Promise<any> {
  return waitFor(
    () => batchStatus(admin, id),
    (b) => statuses.includes(b?.status),
    timeoutMs,
  );
}

/** Lines with their own content (so a fake upstream can tell batches apart), all on one model. */
function contentFile(model: string, tag: string, count: number, marker = ''): string {
  return jsonl(
    Array.from({ length: count }, (_, i) => ({
      custom_id: `${tag}-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model, messages: [{ role: 'user', content: `${tag} line ${i}${marker}` }] },
    })),
  );
}

describe(AdminModule.name, () => {
  describe('the admin token guard, accounts and keys', () => {
    let gw: TestGateway;
    let admin: AdminClient;

    beforeAll(async () => {
      gw = await startGateway();
      admin = adminClient(gw.url, gw.adminToken);
    });
    afterAll(async () => {
      await gw?.close();
    });

    const operations = {
      query: { query: '{ accounts { id name } }', variables: {} },
      mutation: { query: 'mutation($name: String!) { createAccount(name: $name) { id } }', variables: { name: '' } },
      introspection: { query: '{ __schema { types { name } } }', variables: {} },
    };

    it.each(['no token', 'a wrong token', 'a client API key'])('refuses a query, a mutation and introspection with %s', async (who) => {
      const tenant = await gw.newTenant();
      const token = who === 'no token' ? null : who === 'a wrong token' ? `${gw.adminToken}x` : tenant.apiKey;
      const refused = adminClient(gw.url, token);
      const name = uniqueName('intruder');
      for (const [kind, op] of Object.entries(operations)) {
        const res = await refused.request(op.query, kind === 'mutation' ? { name } : op.variables);
        expect({ kind, status: res.status }).toEqual({ kind, status: 401 });
        expect(res.errors?.[0]?.extensions?.code).toBe('invalid_admin_token');
        expect(res.data).toBeUndefined();
      }
      // the refused mutation changed nothing
      const { accounts } = await admin.query<{ accounts: { name: string }[] }>('{ accounts { name } }');
      expect(accounts.map((a) => a.name)).not.toContain(name);
    });

    it('refuses every path under /graphql without the admin token, not only /graphql itself', async () => {
      const name = uniqueName('sidedoor');
      const mutation = JSON.stringify({ query: 'mutation($name: String!) { createAccount(name: $name) { id } }', variables: { name } });
      const query = '{ accounts { id webhookSecret } }';
      for (const path of ['/graphql/', '/GraphQL', '/graphql/anything', '/graphql/v1/graphql']) {
        const attempts = [
          fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) }),
          fetch(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: mutation }),
          fetch(`${gw.url}${path}?query=${encodeURIComponent(query)}`, { headers: { 'apollo-require-preflight': 'true' } }),
        ];
        for (const res of await Promise.all(attempts)) {
          const body = await res.json().catch(() => null);
          expect({ path, refused: [401, 404].includes(res.status), data: body?.data }).toEqual({ path, refused: true, data: undefined });
        }
      }
      const { accounts } = await admin.query<{ accounts: { name: string }[] }>('{ accounts { name } }');
      expect(accounts.map((a) => a.name)).not.toContain(name);
    });

    it('answers the same operations with the admin token', async () => {
      const name = uniqueName('operator-made');
      const schema = await admin.query(operations.introspection.query);
      expect(schema.__schema.types.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining(['Batch', 'BatchConnection', 'Account']));
      const { createAccount } = await admin.query('mutation($name: String!) { createAccount(name: $name) { id name } }', { name });
      const { accounts } = await admin.query(operations.query.query);
      expect(accounts).toContainEqual({ id: createAccount.id, name });
    });

    it('creates an account and a key whose tenant works over REST under both prefixes and is isolated from other tenants', async () => {
      const other = await gw.newTenant('other');
      const { createAccount: account } = await admin.query('mutation($name: String!) { createAccount(name: $name) { id name webhookUrl webhookSecret } }', {
        name: uniqueName('acme'),
      });
      expect(account.webhookUrl).toBeNull();
      expect(account.webhookSecret).toMatch(/^whsec_/);
      const { createApiKey: key } = await admin.query('mutation($id: ID!) { createApiKey(accountId: $id) { id accountId prefix secret revokedAt } }', {
        id: account.id,
      });
      expect(key).toMatchObject({ accountId: account.id, revokedAt: null });
      expect(key.secret).toMatch(/^sk-/);
      expect(key.secret.startsWith(key.prefix)).toBe(true);

      const mine: Record<Prefix, { fileId: string; batchId: string }> = {} as never;
      for (const prefix of PREFIXES) {
        const fileId = await uploadFile(gw, key.secret, requestFile(3), prefix);
        const batch = await createBatch(gw, key.secret, fileId, { via: prefix }, prefix);
        expect(batch).toMatchObject({ object: 'batch', input_file_id: fileId });
        mine[prefix] = { fileId, batchId: batch.id };
      }
      const theirFile = await uploadFile(gw, other.apiKey, requestFile(2));
      const theirBatch = (await createBatch(gw, other.apiKey, theirFile)).id;

      // the operator sees the new tenant's batches under its account
      const { batches } = await admin.query('query($f: BatchFilter) { batches(filter: $f) { totalCount edges { node { id accountId } } } }', {
        f: { accountId: account.id },
      });
      expect(batches.totalCount).toBe(2);
      expect(batches.edges.map((e: any) => e.node.id).sort()).toEqual([mine['/v1'].batchId, mine['/api/v1'].batchId].sort());

      const cross = [
        { viewer: key.secret, files: [theirFile], batches: [theirBatch] },
        { viewer: other.apiKey, files: [mine['/v1'].fileId, mine['/api/v1'].fileId], batches: [mine['/v1'].batchId, mine['/api/v1'].batchId] },
      ];
      for (const { viewer, files, batches: batchIds } of cross) {
        for (const prefix of PREFIXES) {
          for (const path of [
            ...files.map((id) => `${prefix}/files/${id}`),
            ...files.map((id) => `${prefix}/files/${id}/content`),
            ...batchIds.map((id) => `${prefix}/batches/${id}`),
          ]) {
            const res = await rest(gw, viewer, 'GET', path);
            expect({ path, status: res.status, code: errorCode(res, prefix) }).toEqual({ path, status: 404, code: 'not_found' });
          }
        }
        const fileList = unwrap(await rest(gw, viewer, 'GET', '/v1/files?limit=100'), '/v1');
        const batchList = unwrap(await rest(gw, viewer, 'GET', '/v1/batches?limit=100'), '/v1');
        expect(fileList.data.length).toBeGreaterThan(0);
        expect(batchList.data.length).toBeGreaterThan(0);
        for (const id of files) expect(fileList.data.map((f: any) => f.id)).not.toContain(id);
        for (const id of batchIds) expect(batchList.data.map((b: any) => b.id)).not.toContain(id);
      }
      // and each sees its own
      const ownBatches = unwrap(await rest(gw, key.secret, 'GET', '/api/v1/batches?limit=100'), '/api/v1');
      expect(ownBatches.data.map((b: any) => b.id).sort()).toEqual([mine['/v1'].batchId, mine['/api/v1'].batchId].sort());
    });

    it('revokes a key: it answers 401 invalid_api_key under both prefixes while the account’s other key keeps working', async () => {
      const { createAccount: account } = await admin.query('mutation($name: String!) { createAccount(name: $name) { id } }', { name: uniqueName('revoked') });
      const mint = 'mutation($id: ID!) { createApiKey(accountId: $id) { id secret } }';
      const { createApiKey: doomed } = await admin.query(mint, { id: account.id });
      const { createApiKey: kept } = await admin.query(mint, { id: account.id });
      expect((await rest(gw, doomed.secret, 'GET', '/v1/batches')).status).toBe(200);

      const { revokeApiKey } = await admin.query('mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }', { id: doomed.id });
      expect(revokeApiKey.id).toBe(doomed.id);
      expect(revokeApiKey.revokedAt).toEqual(expect.any(Number));

      for (const prefix of PREFIXES) {
        const res = await rest(gw, doomed.secret, 'GET', `${prefix}/batches`);
        expect({ status: res.status, code: errorCode(res, prefix) }).toEqual({ status: 401, code: 'invalid_api_key' });
        expect((await rest(gw, kept.secret, 'GET', `${prefix}/batches`)).status).toBe(200);
      }
      const { accounts } = await admin.query('{ accounts { id apiKeys { id revokedAt } } }');
      const keys = accounts.find((a: any) => a.id === account.id).apiKeys;
      expect(keys).toEqual(
        expect.arrayContaining([
          { id: doomed.id, revokedAt: revokeApiKey.revokedAt },
          { id: kept.id, revokedAt: null },
        ]),
      );
    });

    it('rotates the webhook secret and sets, rejects and clears the account webhook', async () => {
      const { createAccount: account } = await admin.query('mutation($name: String!) { createAccount(name: $name) { id webhookSecret } }', {
        name: uniqueName('hooks'),
      });
      const { rotateWebhookSecret } = await admin.query('mutation($id: ID!) { rotateWebhookSecret(accountId: $id) { id webhookSecret } }', { id: account.id });
      expect(rotateWebhookSecret.webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/=]+$/);
      expect(rotateWebhookSecret.webhookSecret).not.toBe(account.webhookSecret);

      const setHook = 'mutation($id: ID!, $url: String) { setAccountWebhook(accountId: $id, url: $url) { id webhookUrl webhookSecret } }';
      const bad = await admin.request(setHook, { id: account.id, url: 'not a url' });
      expect(bad.errors?.[0]?.extensions?.code).toBe('invalid_request_error');
      expect(bad.data).toBeNull();

      const url = 'http://127.0.0.1:9/hooks/batches';
      expect((await admin.query(setHook, { id: account.id, url })).setAccountWebhook).toMatchObject({ webhookUrl: url });
      const listed = async () => (await admin.query('{ accounts { id webhookUrl webhookSecret } }')).accounts.find((a: any) => a.id === account.id);
      expect(await listed()).toEqual({ id: account.id, webhookUrl: url, webhookSecret: rotateWebhookSecret.webhookSecret });

      expect((await admin.query(setHook, { id: account.id, url: null })).setAccountWebhook.webhookUrl).toBeNull();
      expect((await listed()).webhookUrl).toBeNull();
    });

    it('answers not_found for keys and accounts that do not exist, and null for an unknown batch', async () => {
      const noAccount = await admin.request('mutation { createApiKey(accountId: "acct_missing") { id } }');
      expect(noAccount.errors?.[0]?.extensions?.code).toBe('not_found');
      const noKey = await admin.request('mutation { revokeApiKey(id: "key_missing") { id } }');
      expect(noKey.errors?.[0]?.extensions?.code).toBe('not_found');
      expect((await admin.query('{ batch(id: "batch_missing") { id } }')).batch).toBeNull();
      const noBatch = await admin.request('mutation { cancelBatch(id: "batch_missing") { id } }');
      expect(noBatch.errors?.[0]?.extensions?.code).toBe('not_found');
    });
  });

  describe('the batches connection', () => {
    let gw: TestGateway;
    let admin: AdminClient;
    let slow: FakeUpstream;
    /** b1..b5 in creation order. */
    let ids: string[];
    let createdAt: Record<string, number>;
    let tenants: { accountId: string }[];

    const PAGE = `query($filter: BatchFilter, $first: Int, $after: String) {
      batches(filter: $filter, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id status accountId model createdAt metadata { key value } } }
      }
    }`;

    async function idsFor(filter: Record<string, unknown>): Promise<string[]> {
      const { batches } = await admin.query(PAGE, { filter, first: 100 });
      expect(batches.totalCount).toBe(batches.edges.length);
      return batches.edges.map((e: any) => e.node.id);
    }

    /** Newest first, as the connection orders them. */
    const expected = (...picked: number[]) => picked.sort((a, b) => b - a).map((n) => ids[n - 1]);

    beforeAll(async () => {
      slow = await startFakeUpstream();
      gw = await startGateway({ UPSTREAM_FAKE_KEY: 'fake-key' });
      admin = adminClient(gw.url, gw.adminToken);
      // a second, slow route added through the API, so one batch can be cancelled before it finishes
      await admin.query('mutation($p: ProviderUpsertInput!) { upsertProvider(input: $p) { id } }', {
        p: { id: 'slow', kind: 'openai', baseUrl: slow.url, apiKeyEnv: 'UPSTREAM_FAKE_KEY', maxConcurrency: 2 },
      });
      await admin.query('mutation($s: SkuUpsertInput!) { upsertSku(input: $s) { id } }', {
        s: { id: 'slow-model@slow', model: 'slow-model', providerId: 'slow', upstreamModel: 'slow-upstream', priority: 5 },
      });

      const [t1, t2] = [await gw.newTenant('t1'), await gw.newTenant('t2')];
      tenants = [t1, t2];
      const made: any[] = [];
      made.push(await batchOf(gw, t1.apiKey, requestFile(2), { team: 'red', tier: 'gold' }));
      made.push(await batchOf(gw, t1.apiKey, requestFile(2), { team: 'blue' }));
      // the later batches are created in a later second, so the time filters have something to split
      const firstSecond = Math.max(...made.map((b) => b.created_at));
      await waitFor(
        async () => Math.floor(Date.now() / 1000),
        (now) => now > firstSecond,
        5000,
        20,
      );
      made.push(await batchOf(gw, t2.apiKey, requestFile(2), { team: 'red' }));
      made.push(await batchOf(gw, t2.apiKey, requestFile(2), { tier: 'red' }));
      made.push(await batchOf(gw, t2.apiKey, contentFile('slow-model', 'slow', 2, ' #latency=3000'), { team: 'green' }));
      await admin.query('mutation($id: ID!) { cancelBatch(id: $id) { id } }', { id: made[4].id });
      ids = made.map((b) => b.id);
      createdAt = Object.fromEntries(made.map((b) => [b.id, b.created_at]));
      for (const id of ids.slice(0, 4)) await waitForStatus(admin, id, ['completed']);
      await waitForStatus(admin, ids[4], ['cancelled']);
    });
    afterAll(async () => {
      await gw?.close();
      await slow?.close();
    });

    it('pages through every batch, newest first, two at a time, without duplicates or gaps', async () => {
      const seen: string[] = [];
      const pages: { size: number; hasNextPage: boolean; totalCount: number }[] = [];
      let after: string | null = null;
      for (;;) {
        const { batches }: any = await admin.query(PAGE, { first: 2, after });
        seen.push(...batches.edges.map((e: any) => e.node.id));
        pages.push({ size: batches.edges.length, hasNextPage: batches.pageInfo.hasNextPage, totalCount: batches.totalCount });
        expect(batches.pageInfo.endCursor).toBe(batches.edges[batches.edges.length - 1].cursor);
        if (!batches.pageInfo.hasNextPage) break;
        after = batches.pageInfo.endCursor;
        if (pages.length > 10) throw new Error('pagination does not end');
      }
      expect(seen).toEqual(expected(1, 2, 3, 4, 5));
      expect(pages).toEqual([
        { size: 2, hasNextPage: true, totalCount: 5 },
        { size: 2, hasNextPage: true, totalCount: 5 },
        { size: 1, hasNextPage: false, totalCount: 5 },
      ]);
    });

    it('pages within a filter: the account filter over pages of two', async () => {
      const first = (await admin.query(PAGE, { filter: { accountId: tenants[1].accountId }, first: 2 })).batches;
      expect(first.edges.map((e: any) => e.node.id)).toEqual(expected(4, 5));
      expect(first.pageInfo.hasNextPage).toBe(true);
      expect(first.totalCount).toBe(3);
      const second = (await admin.query(PAGE, { filter: { accountId: tenants[1].accountId }, first: 2, after: first.pageInfo.endCursor })).batches;
      expect(second.edges.map((e: any) => e.node.id)).toEqual(expected(3));
      expect(second.pageInfo).toMatchObject({ hasNextPage: false, endCursor: second.edges[0].cursor });
      expect(second.totalCount).toBe(3);
    });

    it('filters by account, status, model and metadata', async () => {
      expect(await idsFor({ accountId: tenants[0].accountId })).toEqual(expected(1, 2));
      expect(await idsFor({ accountId: tenants[1].accountId })).toEqual(expected(3, 4, 5));
      expect(await idsFor({ status: ['cancelled'] })).toEqual(expected(5));
      expect(await idsFor({ status: ['completed'] })).toEqual(expected(1, 2, 3, 4));
      expect(await idsFor({ status: ['completed', 'cancelled'] })).toEqual(expected(1, 2, 3, 4, 5));
      expect(await idsFor({ status: ['failed', 'in_progress'] })).toEqual([]);
      expect(await idsFor({ model: 'slow-model' })).toEqual(expected(5));
      expect(await idsFor({ model: 'batch-test-model' })).toEqual(expected(1, 2, 3, 4));
      expect(await idsFor({ metadataKey: 'team', metadataValue: 'red' })).toEqual(expected(1, 3));
      expect(await idsFor({ metadataKey: 'tier', metadataValue: 'red' })).toEqual(expected(4));
      expect(await idsFor({ metadataKey: 'tier' })).toEqual(expected(1, 4));
      expect(await idsFor({ metadataKey: 'team', metadataValue: 'gre' })).toEqual([]);
      expect(await idsFor({ accountId: tenants[1].accountId, metadataKey: 'team', status: ['completed'] })).toEqual(expected(3));
    });

    it('treats a filter field sent as null like one not sent', async () => {
      for (const field of ['status', 'accountId', 'model', 'createdAfter', 'createdBefore', 'metadataKey']) {
        expect({ field, ids: await idsFor({ [field]: null }) }).toEqual({ field, ids: expected(1, 2, 3, 4, 5) });
      }
      expect(await idsFor({ metadataKey: 'tier', metadataValue: null })).toEqual(expected(1, 4));
    });

    it('matches metadata exactly, letter case included, on every driver', async () => {
      expect(await idsFor({ metadataKey: 'team', metadataValue: 'RED' })).toEqual([]);
      expect(await idsFor({ metadataKey: 'TEAM' })).toEqual([]);
      expect(await idsFor({ metadataKey: 'team', metadataValue: 'red' })).toEqual(expected(1, 3));
    });

    it('rejects a status that does not exist with invalid_request_error', async () => {
      const res = await admin.request(PAGE, { filter: { status: ['completed', 'finished'] }, first: 10 });
      expect(res.errors?.[0]?.extensions?.code).toBe('invalid_request_error');
      expect(res.data).toBeNull();
    });

    it('filters by creation time: createdAfter inclusive, createdBefore exclusive', async () => {
      const seconds = [...new Set(Object.values(createdAt))].sort((a, b) => a - b);
      expect(seconds.length).toBeGreaterThan(1);
      const pick = (keep: (t: number) => boolean) => expected(...ids.map((id, i) => (keep(createdAt[id]) ? i + 1 : 0)).filter((n) => n > 0));
      const [earliest, latest] = [seconds[0], seconds[seconds.length - 1]];
      expect(await idsFor({ createdAfter: latest })).toEqual(pick((t) => t >= latest));
      expect(await idsFor({ createdBefore: latest })).toEqual(pick((t) => t < latest));
      expect(await idsFor({ createdAfter: earliest, createdBefore: earliest + 1 })).toEqual(pick((t) => t === earliest));
      expect(await idsFor({ createdAfter: earliest, createdBefore: latest + 1 })).toEqual(expected(1, 2, 3, 4, 5));
      expect(await idsFor({ createdAfter: latest + 1 })).toEqual([]);
      expect(await idsFor({ createdBefore: earliest })).toEqual([]);
      // the batches' own createdAt agrees with the REST created_at
      const { batches } = await admin.query(PAGE, { first: 100 });
      for (const e of batches.edges) expect(e.node.createdAt).toBe(createdAt[e.node.id]);
    });

    it('rejects a cursor it did not issue with invalid_request_error', async () => {
      for (const after of ['not-a-cursor', Buffer.from('file:12').toString('base64url')]) {
        const res = await admin.request(PAGE, { first: 2, after });
        expect(res.errors?.[0]?.extensions?.code).toBe('invalid_request_error');
        expect(res.data).toBeNull();
      }
    });

    it('resolves the SKU and provider of a whole page with one lookup each (DataLoader)', async () => {
      const routing = gw.app.get(RoutingService);
      const skuLookups = jest.spyOn(routing, 'findSkusByIds');
      const providerLookups = jest.spyOn(routing, 'findProvidersByIds');
      try {
        const { batches } = await admin.query('{ batches(first: 10) { edges { node { id sku { id model } provider { id kind } } } } }');
        const byId = Object.fromEntries(batches.edges.map((e: any) => [e.node.id, e.node]));
        expect(Object.keys(byId).sort()).toEqual([...ids].sort());
        for (const id of ids.slice(0, 4)) {
          expect(byId[id]).toMatchObject({ sku: { id: 'batch-test-model@mock', model: 'batch-test-model' }, provider: { id: 'mock', kind: 'mock' } });
        }
        expect(byId[ids[4]]).toMatchObject({ sku: { id: 'slow-model@slow', model: 'slow-model' }, provider: { id: 'slow', kind: 'openai' } });
        expect(skuLookups).toHaveBeenCalledTimes(1);
        expect(providerLookups).toHaveBeenCalledTimes(1);
        expect([...skuLookups.mock.calls[0][0]].sort()).toEqual(['batch-test-model@mock', 'slow-model@slow']);
      } finally {
        skuLookups.mockRestore();
        providerLookups.mockRestore();
      }
    });
  });

  describe('cancel and routing changes', () => {
    let gw: TestGateway;
    let admin: AdminClient;
    let upstreamA: FakeUpstream;
    let upstreamB: FakeUpstream;

    beforeAll(async () => {
      [upstreamA, upstreamB] = [await startFakeUpstream(), await startFakeUpstream()];
      gw = await startGateway(
        { UPSTREAM_FAKE_KEY: 'fake-key' },
        {
          providers: [openaiProvider('slow-a', upstreamA.url, { api_key_env: 'UPSTREAM_FAKE_KEY', max_concurrency: 4 })],
          skus: ['cancel-model', 'route-model'].map((model) => sku(model, 'slow-a', `a-${model}`, { priority: 10 })),
        },
      );
      admin = adminClient(gw.url, gw.adminToken);
    });
    afterAll(async () => {
      await gw?.close();
      await upstreamA?.close();
      await upstreamB?.close();
    });

    it('cancels a running batch: it ends cancelled with every line in exactly one of the output and error files', async () => {
      const tenant = await gw.newTenant();
      const total = 300;
      const batch = await batchOf(gw, tenant.apiKey, contentFile('cancel-model', 'cancel', total, ' #latency=60'));

      const running = await waitFor(
        () =>
          admin
            .query(
              `query($id: ID!) { batch(id: $id) {
            id status progress requestCounts { total completed failed }
            sku { id model } provider { id kind }
            requests(first: 10) { rows { line customId status } nextAfterLine }
          } }`,
              { id: batch.id },
            )
            .then((d) => d.batch),
        (b) => b.requestCounts.completed > 0,
      );
      expect(running.status).toBe('in_progress');
      expect(running.sku).toEqual({ id: 'cancel-model@slow-a', model: 'cancel-model' });
      expect(running.provider).toEqual({ id: 'slow-a', kind: 'openai' });
      expect(running.requestCounts.total).toBe(total);
      expect(running.progress).toBeGreaterThan(0);
      expect(running.progress).toBeLessThan(1);
      expect(running.progress).toBeCloseTo((running.requestCounts.completed + running.requestCounts.failed) / total, 6);
      expect(running.requests.rows.map((r: any) => r.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(running.requests.rows.map((r: any) => r.customId)).toEqual(Array.from({ length: 10 }, (_, i) => `cancel-${i}`));
      expect(running.requests.nextAfterLine).toBe(10);

      const { cancelBatch } = await admin.query('mutation($id: ID!) { cancelBatch(id: $id) { id status cancellingAt } }', { id: batch.id });
      expect(cancelBatch.id).toBe(batch.id);
      expect(['cancelling', 'cancelled']).toContain(cancelBatch.status);
      expect(cancelBatch.cancellingAt).toEqual(expect.any(Number));

      const done = await waitForStatus(admin, batch.id, ['cancelled', 'completed', 'failed', 'expired']);
      expect(done.status).toBe('cancelled');
      const { completed, failed } = done.requestCounts;
      expect(done.requestCounts.total).toBe(total);
      expect(completed + failed).toBe(total);
      expect(completed).toBeGreaterThan(0);
      expect(failed).toBeGreaterThan(0); // the cancel cut the batch short
      expect(done.progress).toBe(1);

      const object = unwrap(await rest(gw, tenant.apiKey, 'GET', `/v1/batches/${batch.id}`), '/v1');
      expect(object).toMatchObject({ status: 'cancelled', request_counts: { total, completed, failed } });
      const output = await resultLines(gw, tenant.apiKey, object.output_file_id);
      const errors = await resultLines(gw, tenant.apiKey, object.error_file_id);
      expect(output).toHaveLength(completed);
      expect(errors).toHaveLength(failed);
      const ids = [...output, ...errors].map((l) => l.custom_id).sort();
      expect(ids).toEqual(Array.from({ length: total }, (_, i) => `cancel-${i}`).sort());
      expect(errors.every((l) => l.error?.code === 'batch_cancelled')).toBe(true);

      // the request rows agree: nothing left pending, the cut lines carry batch_cancelled
      const { batch: rows } = await admin.query(
        'query($id: ID!) { batch(id: $id) { requests(first: 1000) { rows { line status errorCode } nextAfterLine } } }',
        {
          id: batch.id,
        },
      );
      expect(rows.requests.rows).toHaveLength(total);
      expect(rows.requests.nextAfterLine).toBeNull();
      expect(rows.requests.rows.filter((r: any) => r.status === 'completed')).toHaveLength(completed);
      expect(rows.requests.rows.filter((r: any) => r.status === 'failed' && r.errorCode === 'batch_cancelled')).toHaveLength(failed);

      // cancelling again is harmless and changes nothing
      const again = await admin.request('mutation($id: ID!) { cancelBatch(id: $id) { id status requestCounts { completed failed } } }', { id: batch.id });
      expect(again.data?.cancelBatch).toEqual({ id: batch.id, status: 'cancelled', requestCounts: { completed, failed } });
    });

    it('applies routing changes to new batches while a running batch keeps its locked SKU', async () => {
      const tenant = await gw.newTenant();
      const first = await batchOf(gw, tenant.apiKey, contentFile('route-model', 'first', 40, ' #latency=100'));
      expect((await batchStatus(admin, first.id)).sku).toEqual({ id: 'route-model@slow-a' });

      // a second provider and a higher-priority SKU for the same model, and the old SKU switched off
      const { upsertProvider } = await admin.query(
        'mutation($p: ProviderUpsertInput!) { upsertProvider(input: $p) { id kind baseUrl apiKeyEnv maxConcurrency } }',
        {
          p: { id: 'fast-b', kind: 'openai', baseUrl: upstreamB.url, apiKeyEnv: 'UPSTREAM_FAKE_KEY', maxConcurrency: 8 },
        },
      );
      expect(upsertProvider).toEqual({ id: 'fast-b', kind: 'openai', baseUrl: upstreamB.url, apiKeyEnv: 'UPSTREAM_FAKE_KEY', maxConcurrency: 8 });
      const { upsertSku } = await admin.query(
        'mutation($s: SkuUpsertInput!) { upsertSku(input: $s) { id model providerId upstreamModel batchCapable active priority weight } }',
        {
          s: {
            id: 'route-model@fast-b',
            model: 'route-model',
            providerId: 'fast-b',
            upstreamModel: 'b-route-model',
            batchCapable: true,
            active: true,
            priority: 20,
            weight: 1,
          },
        },
      );
      expect(upsertSku).toEqual({
        id: 'route-model@fast-b',
        model: 'route-model',
        providerId: 'fast-b',
        upstreamModel: 'b-route-model',
        batchCapable: true,
        active: true,
        priority: 20,
        weight: 1,
      });
      const { setSkuActive } = await admin.query('mutation { setSkuActive(id: "route-model@slow-a", active: false) { id active } }');
      expect(setSkuActive).toEqual({ id: 'route-model@slow-a', active: false });
      const { skus } = await admin.query('{ skus { id active priority } }');
      expect(skus).toEqual(
        expect.arrayContaining([
          { id: 'route-model@slow-a', active: false, priority: 10 },
          { id: 'route-model@fast-b', active: true, priority: 20 },
        ]),
      );
      // the first batch is still running while routing changed under it
      expect(['validating', 'in_progress']).toContain((await batchStatus(admin, first.id)).status);

      const second = await batchOf(gw, tenant.apiKey, contentFile('route-model', 'second', 10));
      const { batch: secondView } = await admin.query('query($id: ID!) { batch(id: $id) { sku { id } provider { id kind } upstreamModel } }', {
        id: second.id,
      });
      expect(secondView).toEqual({ sku: { id: 'route-model@fast-b' }, provider: { id: 'fast-b', kind: 'openai' }, upstreamModel: 'b-route-model' });

      const firstDone = await waitForStatus(admin, first.id, TERMINAL);
      const secondDone = await waitForStatus(admin, second.id, TERMINAL);
      expect(firstDone).toMatchObject({ status: 'completed', sku: { id: 'route-model@slow-a' }, requestCounts: { total: 40, completed: 40, failed: 0 } });
      expect(secondDone).toMatchObject({ status: 'completed', sku: { id: 'route-model@fast-b' }, requestCounts: { total: 10, completed: 10, failed: 0 } });

      // each batch's lines went to its own SKU's upstream, with that SKU's upstream model
      const sentTo = (upstream: FakeUpstream, tag: string) => [...upstream.attempts.keys()].filter((c) => c.startsWith(`${tag} line `)).length;
      expect({ a: sentTo(upstreamA, 'first'), b: sentTo(upstreamB, 'first') }).toEqual({ a: 40, b: 0 });
      expect({ a: sentTo(upstreamA, 'second'), b: sentTo(upstreamB, 'second') }).toEqual({ a: 0, b: 10 });
      expect(upstreamA.models).toContain('a-route-model');
      expect(upstreamB.models).toEqual(new Set(['b-route-model']));

      // a finished batch cannot be cancelled
      const late = await admin.request('mutation($id: ID!) { cancelBatch(id: $id) { id } }', { id: second.id });
      expect(late.errors?.[0]?.extensions?.code).toBe('batch_not_cancellable');

      // with every SKU of the model inactive, creating a batch is refused under both envelopes
      await admin.query('mutation { setSkuActive(id: "route-model@fast-b", active: false) { id } }');
      for (const prefix of PREFIXES) {
        const fileId = await uploadFile(gw, tenant.apiKey, contentFile('route-model', 'third', 1), prefix);
        const res = await rest(gw, tenant.apiKey, 'POST', `${prefix}/batches`, {
          input_file_id: fileId,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        });
        expect({ status: res.status, code: errorCode(res, prefix) }).toEqual({ status: 400, code: 'batch_routing_unavailable' });
      }

      // switching the old SKU back on routes new batches to it again
      await admin.query('mutation { setSkuActive(id: "route-model@slow-a", active: true) { id } }');
      const fourth = await batchOf(gw, tenant.apiKey, contentFile('route-model', 'fourth', 1));
      expect((await batchStatus(admin, fourth.id)).sku).toEqual({ id: 'route-model@slow-a' });
      await waitForStatus(admin, fourth.id, ['completed']);
    });

    it('rejects routing input it cannot use with invalid_request_error', async () => {
      const noProvider = await admin.request('mutation($s: SkuUpsertInput!) { upsertSku(input: $s) { id } }', {
        s: { id: 'x@nowhere', model: 'x', providerId: 'nowhere', upstreamModel: 'x' },
      });
      expect(noProvider.errors?.[0]?.extensions?.code).toBe('invalid_request_error');
      const noBaseUrl = await admin.request('mutation($p: ProviderUpsertInput!) { upsertProvider(input: $p) { id } }', {
        p: { id: 'no-url', kind: 'openai' },
      });
      expect(noBaseUrl.errors?.[0]?.extensions?.code).toBe('invalid_request_error');
      const unknownSku = await admin.request('mutation { setSkuActive(id: "missing@nowhere", active: false) { id } }');
      expect(unknownSku.errors?.[0]?.extensions?.code).toBe('not_found');
      const { providers } = await admin.query('{ providers { id } }');
      expect(providers.map((p: { id: string }) => p.id)).not.toContain('no-url');
    });
  });
});
