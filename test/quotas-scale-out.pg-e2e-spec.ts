import { AccountQuotasService } from '@app/accounts';
import { randomBytes } from 'node:crypto';
import { adminClient } from './support/admin-client';
import { ChildGateway } from './support/child-gateway';
import { waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { ProcessLayout } from './support/process-layout';
import { rest } from './support/rest-client';

/**
 * Quotas across processes: two API processes (ROLE=api) on one PostgreSQL take concurrent creates by one
 * account, and together they never accept more than its quotas allow (the count and the insert share a
 * transaction holding the account's row lock). No worker runs, so every accepted batch stays unfinished
 * (validating) and keeps counting against the quotas.
 *
 * Postgres project only (*.pg-e2e-spec.ts): separate API processes need PostgreSQL and Redis.
 */

const MODEL = 'quota-model';
const API_KEY = `sk-quota${randomBytes(12).toString('hex')}`;
const CREATES_PER_PROCESS = 6;

jest.setTimeout(180_000);

describe(`${AccountQuotasService.name} across API processes`, () => {
  let layout: ProcessLayout;
  let apis: ChildGateway[];
  let accountId: string;

  beforeAll(async () => {
    layout = await ProcessLayout.create({ apiKey: API_KEY, model: MODEL, maxConcurrency: 4, latencyMs: 0 });
    apis = [await layout.startApi(API_KEY), await layout.startApi(API_KEY)];
    const admin = adminClient(apis[0].url, layout.env.ADMIN_TOKEN);
    accountId = (await admin.query<{ accounts: { id: string }[] }>('{ accounts { id } }')).accounts[0].id;
  });

  afterAll(() => layout?.stop());

  const setQuotas = (input: Record<string, unknown>) =>
    adminClient(apis[1].url, layout.env.ADMIN_TOKEN).query(
      'mutation($id: ID!, $input: AccountQuotasInput!) { setAccountQuotas(accountId: $id, input: $input) { id } }',
      { id: accountId, input },
    );

  /** Fires CREATES_PER_PROCESS creates at each API process at once; returns the statuses and error codes. */
  async function createConcurrently(fileId: string): Promise<{ status: number; code: string | null }[]> {
    const body = { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' };
    const answers = await Promise.all(
      apis.flatMap((api) => Array.from({ length: CREATES_PER_PROCESS }, () => rest(api, API_KEY, 'POST', '/v1/batches', body))),
    );
    return answers.map((a) => ({ status: a.status, code: a.status === 200 ? null : (a.body?.error?.code ?? null) }));
  }

  const quotaUse = () =>
    adminClient(apis[0].url, layout.env.ADMIN_TOKEN).query<{
      accounts: { id: string; quotaUse: { unfinishedBatches: number; enqueuedTokens: { model: string; tokens: number }[] } }[];
    }>('{ accounts { id quotaUse { unfinishedBatches enqueuedTokens { model tokens } } } }');

  it('never accepts more enqueued tokens than the quota, nor more unfinished batches, however the creates are spread over two API processes', async () => {
    const content = jsonl(Array.from({ length: 40 }, (_, i) => requestLine(i, MODEL, { messages: [{ role: 'user', content: `line ${i} `.repeat(20) }] })));
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([content]), 'requests.jsonl');
    const uploaded = await (await fetch(`${apis[0].url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: form })).json();
    // The other process reads the same count from the shared database.
    const file = await layout.withLogs(
      waitFor(
        async () => (await rest(apis[1], API_KEY, 'GET', `/v1/files/${uploaded.id}`)).body,
        (f) => f.input_tokens_estimate != null,
        30_000,
        20,
      ),
    );
    const tokens: number = file.input_tokens_estimate;
    expect(tokens).toBeGreaterThan(0);

    // Room for two batches of this file.
    await setQuotas({ maxEnqueuedTokens: Math.floor(tokens * 2.5) });
    const byTokens = await layout.withLogs(createConcurrently(uploaded.id));
    expect(byTokens.filter((a) => a.status === 200)).toHaveLength(2);
    expect(byTokens.filter((a) => a.status === 429 && a.code === 'token_limit_exceeded')).toHaveLength(2 * CREATES_PER_PROCESS - 2);

    // Room for three more batches, whatever their tokens.
    await setQuotas({ maxEnqueuedTokens: null, maxUnfinishedBatches: 5 });
    const byCount = await layout.withLogs(createConcurrently(uploaded.id));
    expect(byCount.filter((a) => a.status === 200)).toHaveLength(3);
    expect(byCount.filter((a) => a.status === 429 && a.code === 'batch_limit_exceeded')).toHaveLength(2 * CREATES_PER_PROCESS - 3);

    const use = (await quotaUse()).accounts.find((a) => a.id === accountId)!.quotaUse;
    expect(use).toEqual({ unfinishedBatches: 5, enqueuedTokens: [{ model: MODEL, tokens: 5 * tokens }] });
    const listed = await rest(apis[0], API_KEY, 'GET', '/v1/batches?limit=100');
    expect(listed.body.data).toHaveLength(5);
  });
});
