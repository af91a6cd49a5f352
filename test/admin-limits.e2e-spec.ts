import { AccountsService } from '@app/accounts';
import { ADMIN_QUERY_LIMITS, AdminModule } from '@app/admin';
import { BatchReports } from '@app/batches';
import { RequestRowQueries } from '../libs/admin/src/request-rows.queries';
import { getIntrospectionQuery } from 'graphql';
import { AdminClient, adminClient } from './support/admin-client';
import { currentDriver } from './support/databases';
import { startGateway, TestGateway, waitFor } from './support/gateway';
import { requestFile } from './support/jsonl';
import { restClient } from './support/rest-client';
import { startWebhookReceiver, WebhookReceiver } from './support/webhook-receiver';

/**
 * The admin API against hostile operations: the token-count, depth, alias, selection and cost limits
 * refuse an operation before any resolver runs, with `query_too_complex`; the console's real queries still
 * pass; a page of request rows never loads the stored response bodies; production errors name no
 * other fields.
 */

jest.setTimeout(120_000);

const ROW_FIELDS = 'line customId status attempts upstreamStatus latencyMs errorCode errorMessage finishedAt';

/** The console's batch page: every field of the batch, its SKU, provider, a page of request rows and its deliveries. */
const BATCH_PAGE = `query($id: ID!, $rows: Int) { batch(id: $id) {
  id status accountId model endpoint completionWindow inputFileId outputFileId errorFileId callbackUrl upstreamModel
  createdAt inProgressAt expiresAt finalizingAt completedAt failedAt expiredAt cancellingAt cancelledAt
  requestCounts { total completed failed } progress usage { inputTokens outputTokens totalTokens }
  metadata { key value } errors { code message param line }
  sku { id model providerId upstreamModel batchCapable active priority weight inputPricePerMtok outputPricePerMtok }
  provider { id kind baseUrl apiKeyEnv maxConcurrency rateLimitPerMinute timeoutMs }
  requests(first: $rows) { rows { ${ROW_FIELDS} } nextAfterLine }
  deliveries { eventId type targetUrl status attempts createdAt deliveredAt nextAttemptAt lastError history { attempt attemptedAt statusCode latencyMs error } }
} }`;

/** The console's batch list. */
const BATCH_LIST = `query($first: Int, $after: String, $filter: BatchFilter) { batches(first: $first, after: $after, filter: $filter) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id status accountId model endpoint createdAt progress requestCounts { total completed failed } metadata { key value } sku { id model } provider { id kind } } }
} }`;

/** One query with `count` aliased copies of `field`. */
const aliased = (count: number, field: string) => `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${field}`).join(' ')} }`;

/**
 * A query `depth` fields deep. The admin schema has no cycle (Batch → requests → rows is as deep as it
 * goes), so depth comes from introspection's `ofType` chain (graphql-js already caps nested `fields`).
 */
function queryOfDepth(depth: number): string {
  let query = 'name';
  for (let level = 2; level < depth; level += 1) query = `ofType { ${query} }`;
  return `{ __type(name: "Batch") { ${query} } }`;
}

async function healthz(gw: TestGateway): Promise<number> {
  return (await fetch(`${gw.url}/healthz`)).status;
}

describe(`${AdminModule.name} query limits`, () => {
  let gw: TestGateway;
  let admin: AdminClient;
  let receiver: WebhookReceiver;
  /** A finished batch of the default (mock) route, with a webhook delivery. */
  let batchId: string;
  const LINES = 12;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    gw = await startGateway();
    admin = adminClient(gw.url, gw.adminToken);
    const tenant = await gw.newTenant('limits');
    const client = restClient(gw, tenant.apiKey);
    const batch = await client.createBatch(await client.upload(requestFile(LINES)), { callback_url: `${receiver.url}/hook`, metadata: { team: 'ops' } });
    batchId = batch.id;
    await waitFor(
      () => admin.query(`query($id: ID!) { batch(id: $id) { status deliveries { status } } }`, { id: batchId }),
      ({ batch: b }) => b.status === 'completed' && b.deliveries.some((d: { status: string }) => d.status === 'delivered'),
    );
  });
  afterAll(async () => {
    await gw?.close();
    await receiver?.close();
  });
  afterEach(() => jest.restoreAllMocks());

  describe('refused before anything runs', () => {
    it.each([
      ['200 aliases of batches(first: 500)', 200, /aliases/],
      ['1000 aliases of batches(first: 500)', 1000, /tokens/],
    ])('refuses %s with query_too_complex, and /healthz answers meanwhile', async (_, count, reason) => {
      const search = jest.spyOn(gw.app.get(BatchReports), 'search');
      const [res, health] = await Promise.all([admin.request(aliased(count, 'batches(first: 500) { totalCount edges { node { id } } }')), healthz(gw)]);
      expect(res.status).toBe(400);
      expect(res.data).toBeUndefined();
      expect(res.errors).toHaveLength(1);
      expect(res.errors![0]).toMatchObject({ extensions: { code: 'query_too_complex', status: 400 } });
      expect(res.errors![0].message).toMatch(reason);
      expect(search).not.toHaveBeenCalled();
      expect(health).toBe(200);
      expect(await healthz(gw)).toBe(200);
    });

    it('counts aliases at the limit as allowed and one more as refused, fragments included', async () => {
      const field = 'accounts { id }';
      await expect(admin.query(aliased(ADMIN_QUERY_LIMITS.maxAliases, field))).resolves.toHaveProperty('a0');
      // half the aliases in a fragment spread twice: the spreads count as often as they run
      const half = ADMIN_QUERY_LIMITS.maxAliases / 2;
      const fragment = `fragment Twice on Query { ${Array.from({ length: half }, (_, i) => `f${i}: ${field}`).join(' ')} }`;
      const res = await admin.request(`{ ...Twice again: accounts { id } ... on Query { ...Twice } } ${fragment}`);
      expect(res.errors?.[0]).toMatchObject({ message: expect.stringMatching(/aliases/), extensions: { code: 'query_too_complex' } });
    });

    it('refuses fragments that spread each other into millions of fields, though the document is small', async () => {
      const accounts = jest.spyOn(gw.app.get(AccountsService), 'listAccounts');
      const levels = Array.from({ length: 20 }, (_, i) => `fragment F${i + 1} on Query { ...F${i} ...F${i} }`);
      const res = await admin.request(`{ ...F20 } fragment F0 on Query { accounts { id name } } ${levels.join(' ')}`);
      expect(res.status).toBe(400);
      expect(res.errors?.[0]).toMatchObject({ message: expect.stringMatching(/selections/), extensions: { code: 'query_too_complex' } });
      expect(accounts).not.toHaveBeenCalled();
    });

    it('refuses a query deeper than the limit and keeps the standard introspection query working', async () => {
      const atLimit = await admin.request(queryOfDepth(ADMIN_QUERY_LIMITS.maxDepth));
      expect(atLimit.errors).toBeUndefined();
      const tooDeep = await admin.request(queryOfDepth(ADMIN_QUERY_LIMITS.maxDepth + 1));
      expect(tooDeep.status).toBe(400);
      expect(tooDeep.data).toBeUndefined();
      expect(tooDeep.errors?.[0]).toMatchObject({ message: expect.stringMatching(/deep/), extensions: { code: 'query_too_complex' } });
      const { __schema } = await admin.query(
        getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true, specifiedByUrl: true, directiveIsRepeatable: true }),
      );
      expect(__schema.types.map((t: { name: string }) => t.name)).toContain('BatchRequestRow');
    });

    it('prices page sizes given as variables: every batch of a page with a thousand rows each is refused, small pages pass', async () => {
      const search = jest.spyOn(gw.app.get(BatchReports), 'search');
      const rows = jest.spyOn(gw.app.get(RequestRowQueries), 'pages');
      const query = `query($n: Int, $m: Int) { batches(first: $n) { edges { node { id requests(first: $m) { rows { line } } } } } }`;
      const refused = await admin.request(query, { n: 500, m: 1000 });
      expect(refused.status).toBe(400);
      expect(refused.errors?.[0]).toMatchObject({ message: expect.stringMatching(/costs/), extensions: { code: 'query_too_complex' } });
      expect(search).not.toHaveBeenCalled();
      expect(rows).not.toHaveBeenCalled();
      const small = await admin.query(query, { n: 5, m: 100 });
      expect(small.batches.edges.length).toBeGreaterThan(0);
      // One query for the request rows of every batch on the page, not one per batch.
      expect(rows).toHaveBeenCalledTimes(1);
      expect(rows.mock.calls[0][0]).toHaveLength(small.batches.edges.length);
    });

    it('refuses an argument that does not coerce instead of running the rest of the operation unpriced', async () => {
      const accounts = jest.spyOn(gw.app.get(AccountsService), 'listAccounts');
      const res = await admin.request(`query($id: ID!, $m: Int) { batch(id: $id) { requests(first: $m) { nextAfterLine } } accounts { id } }`, {
        id: batchId,
        m: null,
      });
      expect(res.status).toBe(400);
      expect(res.data).toBeUndefined();
      expect(res.errors?.[0]).toMatchObject({ message: expect.stringMatching(/first/), extensions: { code: 'invalid_request_error' } });
      expect(accounts).not.toHaveBeenCalled();
    });
  });

  describe('the console', () => {
    it('opens a batch with all its fields, a full page of its request rows, its deliveries, SKU and provider', async () => {
      const { batch } = await admin.query(BATCH_PAGE, { id: batchId, rows: ADMIN_QUERY_LIMITS.requestRowsMax });
      expect(batch).toMatchObject({
        id: batchId,
        status: 'completed',
        requestCounts: { total: LINES, completed: LINES, failed: 0 },
        metadata: [{ key: 'team', value: 'ops' }],
      });
      expect(batch.requests.rows.map((r: { line: number }) => r.line)).toEqual(Array.from({ length: LINES }, (_, i) => i + 1));
      expect(batch.requests.rows[0]).toMatchObject({ customId: 'req-0', status: 'completed', attempts: 1, upstreamStatus: 200, errorCode: null });
      expect(batch.sku.id).toEqual(expect.any(String));
      expect(batch.provider.id).toBe(batch.sku.providerId);
      expect(batch.deliveries[0]).toMatchObject({ status: 'delivered', history: [expect.objectContaining({ attempt: 1, statusCode: 200 })] });
    });

    it('lists the largest page of batches with their SKUs and providers', async () => {
      const { batches } = await admin.query(BATCH_LIST, { first: ADMIN_QUERY_LIMITS.batchesPageMax });
      expect(batches.totalCount).toBeGreaterThanOrEqual(1);
      expect(batches.edges.map((e: { node: { id: string } }) => e.node.id)).toContain(batchId);
      expect(batches.edges[0].node.sku.id).toEqual(expect.any(String));
    });
  });

  describe('request rows', () => {
    it('lists rows without loading their stored response bodies', async () => {
      // bodies far larger than anything a list should carry
      const body = JSON.stringify({ padding: 'x'.repeat(2 * 1024 * 1024) });
      const [p1, p2] = currentDriver() === 'postgres' ? ['$1', '$2'] : ['?', '?'];
      await gw.dataSource.query(`UPDATE batch_requests SET response_body = ${p1} WHERE batch_id = ${p2}`, [body, batchId]);
      const page = jest.spyOn(gw.app.get(RequestRowQueries), 'pages');
      const sql = jest.spyOn(gw.dataSource.logger, 'logQuery');

      const { batch } = await admin.query(`query($id: ID!) { batch(id: $id) { requests(first: 1000) { rows { ${ROW_FIELDS} } } } }`, { id: batchId });

      expect(batch.requests.rows).toHaveLength(LINES);
      expect(batch.requests.rows.map((r: { customId: string }) => r.customId)).toEqual(Array.from({ length: LINES }, (_, i) => `req-${i}`));
      // what the page query loaded: the listed columns, no body
      expect(page).toHaveBeenCalledTimes(1);
      const loaded = [...(await page.mock.results[0].value).values()].flat();
      expect(loaded).toHaveLength(LINES);
      for (const row of loaded) expect(row.responseBody).toBeUndefined();
      // and the SQL it ran
      const statements = sql.mock.calls.map(([statement]) => statement).filter((s) => s.includes('batch_requests'));
      expect(statements.length).toBeGreaterThan(0);
      for (const statement of statements) expect(statement).not.toMatch(/response_body/);
    });
  });

  describe('schema hints in errors', () => {
    let production: TestGateway;
    let prodAdmin: AdminClient;

    beforeAll(async () => {
      production = await startGateway({ NODE_ENV: 'production' });
      prodAdmin = adminClient(production.url, production.adminToken);
    });
    afterAll(async () => {
      await production?.close();
    });

    const mistakes = [
      {
        what: 'a misspelled field',
        query: '{ accounts { id webhookSecrt } }',
        variables: {},
        problem: 'Cannot query field "webhookSecrt"',
        hint: 'Did you mean "webhookSecret"',
      },
      {
        what: 'a misspelled argument',
        query: '{ batches(frist: 5) { totalCount } }',
        variables: {},
        problem: 'Unknown argument "frist"',
        hint: 'Did you mean "first"',
      },
      {
        what: 'a misspelled input field in variables',
        query: 'query($f: BatchFilter) { batches(filter: $f) { totalCount } }',
        variables: { f: { statsu: ['completed'] } },
        problem: 'Field "statsu" is not defined by type "BatchFilter"',
        hint: 'Did you mean "status"',
      },
    ];

    it.each(mistakes)(
      'answers $what without suggesting field names in production (outside production it does)',
      async ({ query, variables, problem, hint }) => {
        const development = await admin.request(query, variables);
        expect(development.status).toBe(400);
        expect(development.errors?.[0].message).toContain(hint);

        const res = await prodAdmin.request(query, variables);
        expect(res.status).toBe(400);
        expect(res.data).toBeUndefined();
        expect(res.errors?.[0].message).toContain(problem);
        for (const error of res.errors!) expect(error.message).not.toMatch(/did you mean/i);
      },
    );
  });
});
