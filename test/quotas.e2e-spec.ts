import { AccountQuotasService } from '@app/accounts';
import { once } from 'node:events';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { encodeChat } from 'gpt-tokenizer/cjs/model/gpt-4o';
import { adminClient, AdminClient } from './support/admin-client';
import { startGateway, Tenant, TestGateway, waitFor } from './support/gateway';
import { jsonl } from './support/jsonl';
import { rest, restClient } from './support/rest-client';
import { PREFIXES, TERMINAL } from './support/sdk';

/**
 * Token estimates at upload and per-account quotas end to end, on both drivers: a batch file's input
 * tokens appear on the file object (under both prefixes) once the worker thread has counted them, close
 * to what an upstream that counts the same way reports as prompt tokens; creates that would pass the
 * enqueued-token quota or the unfinished-batches quota are refused with 429 and their codes, and leave
 * nothing behind. (Concurrent creates across two API processes: quotas-scale-out.pg-e2e-spec.ts.)
 */

jest.setTimeout(120_000);

/** A model the o200k_base encoding counts, served by the counting upstream below. */
const MODEL = 'gpt-4o-mini';
/** The documented tolerance of the estimate against an OpenAI-style count of chat text (docs/api.md). */
const TOLERANCE = 0.02;

/**
 * An OpenAI-style upstream that counts `prompt_tokens` of chat messages with gpt-tokenizer's own chat
 * encoding, and holds every request while `held` (so batches stay unfinished) until released.
 */
class CountingUpstream {
  private server: Server;
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;
  url = '';

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open();
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.answer(req, res));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    await this.gate;
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { messages: { role: 'user' | 'system'; content: string }[] };
    const promptTokens = encodeChat(body.messages).length;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'chatcmpl-counting',
        object: 'chat.completion',
        created: 1700000000,
        model: MODEL,
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: promptTokens, completion_tokens: 1, total_tokens: promptTokens + 1 },
      }),
    );
  }
}

const TEXTS = [
  'Summarise the quarterly revenue forecast for the board in three sentences.',
  'Translate "naïve café résumé" into German, and explain each word.',
  '東京 数据 ✓ — describe the customer invoice below:\nInvoice 42, 3 items, total 1,234.56 EUR.',
  'Compare the throughput and latency of two providers, and mention both of them by name.',
];

/** `count` chat lines of MODEL with varied text: a system message and a user message each. */
function chatFile(count: number, prefix = 'r'): string {
  return jsonl(
    Array.from({ length: count }, (_, i) => ({
      custom_id: `${prefix}-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: MODEL,
        messages: [
          { role: 'system', content: 'You are a careful assistant.' },
          { role: 'user', content: `${i}: ${TEXTS[i % TEXTS.length].repeat(1 + (i % 3))}` },
        ],
      },
    })),
  );
}

const SET_QUOTAS = `mutation($accountId: ID!, $input: AccountQuotasInput!) { setAccountQuotas(accountId: $accountId, input: $input) {
  id quotas { maxUnfinishedBatches maxEnqueuedTokens enqueuedTokenLimits { model limit } }
  quotaUse { unfinishedBatches enqueuedTokens { model tokens batches limit } }
} }`;
const QUOTA_USE = `{ accounts { id quotaUse { unfinishedBatches enqueuedTokens { model tokens batches limit } } } }`;

describe(`${AccountQuotasService.name}: token estimates and quotas`, () => {
  let gw: TestGateway;
  let upstream: CountingUpstream;
  let admin: AdminClient;

  beforeAll(async () => {
    upstream = new CountingUpstream();
    await upstream.start();
    gw = await startGateway({ UPSTREAM_FAKE_KEY: 'fake-key', FILE_SWEEP_INTERVAL_MS: '200' });
    admin = adminClient(gw.url, gw.adminToken);
    await admin.query(`mutation($p: ProviderUpsertInput!, $s: SkuUpsertInput!) { upsertProvider(input: $p) { id } upsertSku(input: $s) { id } }`, {
      p: { id: 'counting', kind: 'openai', baseUrl: upstream.url, apiKeyEnv: 'UPSTREAM_FAKE_KEY', maxConcurrency: 8 },
      s: { id: `${MODEL}@counting`, model: MODEL, providerId: 'counting', upstreamModel: MODEL, batchCapable: true, active: true, priority: 10 },
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  async function estimateOf(tenant: Tenant, fileId: string): Promise<number> {
    const file = await waitFor(
      async () => (await rest(gw, tenant.apiKey, 'GET', `/v1/files/${fileId}`)).body,
      (f) => f.input_tokens_estimate !== null,
      30_000,
      20,
    );
    return file.input_tokens_estimate as number;
  }

  async function setQuotas(tenant: Tenant, input: Record<string, unknown>): Promise<any> {
    return (await admin.query<{ setAccountQuotas: any }>(SET_QUOTAS, { accountId: tenant.accountId, input })).setAccountQuotas;
  }

  async function batchRows(tenant: Tenant): Promise<number> {
    const rows: { n: string | number }[] = await gw.dataSource.query(
      gw.dataSource.options.type === 'postgres'
        ? 'SELECT COUNT(*) AS n FROM batches WHERE account_id = $1'
        : 'SELECT COUNT(*) AS n FROM batches WHERE account_id = ?',
      [tenant.accountId],
    );
    return Number(rows[0].n);
  }

  it('shows the input tokens on the file object under both prefixes once counted, within the documented tolerance of the prompt tokens an upstream counting the same way reports', async () => {
    const tenant = await gw.newTenant('estimate');
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([chatFile(24)]), 'requests.jsonl');
    const uploaded = await (await fetch(`${gw.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${tenant.apiKey}` }, body: form })).json();
    // The upload answers before the count: the field is there, null until counted.
    expect(uploaded).toHaveProperty('input_tokens_estimate');
    const estimate = await estimateOf(tenant, uploaded.id);
    for (const prefix of PREFIXES) {
      const res = await rest(gw, tenant.apiKey, 'GET', `${prefix}/files/${uploaded.id}`);
      const file = prefix === '/v1' ? res.body : res.body.data;
      expect([prefix, file.input_tokens_estimate]).toEqual([prefix, estimate]);
    }
    // Operators see the same count in the admin API.
    const { file: seen } = await admin.query<{ file: { id: string; purpose: string; inputTokensEstimate: number } }>(
      'query($id: ID!) { file(id: $id) { id purpose inputTokensEstimate } }',
      { id: uploaded.id },
    );
    expect(seen).toEqual({ id: uploaded.id, purpose: 'batch', inputTokensEstimate: estimate });

    const client = restClient(gw, tenant.apiKey);
    const created = await client.createBatch(uploaded.id);
    const done = await waitFor(
      () => client.batch(created.id),
      (b) => TERMINAL.includes(b.status),
      60_000,
    );
    expect(done.status).toBe('completed');
    const reported = done.usage.input_tokens;
    expect(reported).toBeGreaterThan(24 * 10);
    expect(Math.abs(estimate - reported) / reported).toBeLessThanOrEqual(TOLERANCE);
    const admined = await admin.query<{ batch: { inputTokensEstimate: number } }>(`query($id: ID!) { batch(id: $id) { inputTokensEstimate } }`, {
      id: created.id,
    });
    expect(admined.batch.inputTokensEstimate).toBe(estimate);
  });

  it('refuses a create over the enqueued token quota with 429 token_limit_exceeded under both prefixes, naming the limit and the use, and leaves nothing behind', async () => {
    const tenant = await gw.newTenant('token-quota');
    const client = restClient(gw, tenant.apiKey);
    const first = await client.upload(chatFile(10, 'a'));
    const second = await client.upload(chatFile(10, 'b'));
    const tokens = await estimateOf(tenant, first);
    expect(await estimateOf(tenant, second)).toBe(tokens);
    const limit = Math.floor(tokens * 1.5);
    const set = await setQuotas(tenant, { enqueuedTokenLimits: [{ model: MODEL, limit }], maxEnqueuedTokens: 1 });
    expect(set.quotas).toEqual({ maxUnfinishedBatches: null, maxEnqueuedTokens: 1, enqueuedTokenLimits: [{ model: MODEL, limit }] });

    upstream.hold();
    try {
      const running = await client.createBatch(first);
      for (const prefix of PREFIXES) {
        const res = await rest(gw, tenant.apiKey, 'POST', `${prefix}/batches`, {
          input_file_id: second,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        });
        expect([prefix, res.status]).toEqual([prefix, 429]);
        const code = prefix === '/v1' ? res.body.error.code : res.body.code;
        const message: string = prefix === '/v1' ? res.body.error.message : res.body.message;
        expect([prefix, code]).toEqual([prefix, 'token_limit_exceeded']);
        expect(message).toContain(`Enqueued token limit reached for ${MODEL}: ${(2 * tokens).toLocaleString('en-US')} of ${limit.toLocaleString('en-US')}`);
        if (prefix === '/v1') expect(res.body.error.type).toBe('rate_limit_error');
      }
      expect(await batchRows(tenant)).toBe(1);
      const listed = await rest(gw, tenant.apiKey, 'GET', '/v1/batches');
      expect(listed.body.data.map((b: { id: string }) => b.id)).toEqual([running.id]);
      const use = (await admin.query<{ accounts: any[] }>(QUOTA_USE)).accounts.find((a) => a.id === tenant.accountId).quotaUse;
      expect(use).toEqual({ unfinishedBatches: 1, enqueuedTokens: [{ model: MODEL, tokens, batches: 1, limit }] });

      // Clearing the limit lets the same create through.
      await setQuotas(tenant, { enqueuedTokenLimits: null, maxEnqueuedTokens: null });
      expect((await client.createBatch(second)).status).toBe('validating');
    } finally {
      upstream.release();
    }
  });

  it('makes a create under a token quota wait for the count of a file uploaded just before, and holds the quota with it', async () => {
    const tenant = await gw.newTenant('token-wait');
    const client = restClient(gw, tenant.apiKey);
    const probe = await client.upload(chatFile(40, 'p'));
    const tokens = await estimateOf(tenant, probe);
    await setQuotas(tenant, { maxEnqueuedTokens: Math.floor(tokens * 1.5) });
    upstream.hold();
    try {
      // Created straight after their uploads: each create waits for its file's count.
      const first = await client.createBatch(await client.upload(chatFile(40, 'q')));
      const refused = await rest(gw, tenant.apiKey, 'POST', '/v1/batches', {
        input_file_id: await client.upload(chatFile(40, 'r')),
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('token_limit_exceeded');
      const admined = await admin.query<{ batch: { inputTokensEstimate: number } }>(`query($id: ID!) { batch(id: $id) { inputTokensEstimate } }`, {
        id: first.id,
      });
      expect(admined.batch.inputTokensEstimate).toBe(tokens);
    } finally {
      upstream.release();
    }
  });

  it('counts again a file whose count a stopped process left pending (the file sweeper)', async () => {
    const tenant = await gw.newTenant('stalled');
    const fileId = await restClient(gw, tenant.apiKey).upload(chatFile(6, 's'));
    const tokens = await estimateOf(tenant, fileId);
    // What a process that stopped mid-count leaves: the row pending, uploaded a while ago.
    const sql =
      gw.dataSource.options.type === 'postgres'
        ? "UPDATE files SET token_count_state = 'pending', input_tokens_estimate = NULL, created_at = created_at - 600 WHERE id = $1"
        : "UPDATE files SET token_count_state = 'pending', input_tokens_estimate = NULL, created_at = created_at - 600 WHERE id = ?";
    await gw.dataSource.query(sql, [fileId]);
    // The estimate is back (it was cleared above): the sweeper counted the file again.
    expect(await estimateOf(tenant, fileId)).toBe(tokens);
  });

  it('refuses a create over the unfinished-batches quota with 429 batch_limit_exceeded, and accepts one again once a batch has finished', async () => {
    const tenant = await gw.newTenant('batch-quota');
    const client = restClient(gw, tenant.apiKey);
    const file = await client.upload(chatFile(2, 'c'));
    await setQuotas(tenant, { maxUnfinishedBatches: 2 });
    upstream.hold();
    let ids: string[];
    try {
      ids = [(await client.createBatch(file)).id, (await client.createBatch(file)).id];
      for (const prefix of PREFIXES) {
        const res = await rest(gw, tenant.apiKey, 'POST', `${prefix}/batches`, {
          input_file_id: file,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        });
        expect([prefix, res.status]).toEqual([prefix, 429]);
        const body = prefix === '/v1' ? res.body.error : res.body;
        expect([prefix, body.code]).toEqual([prefix, 'batch_limit_exceeded']);
        expect(body.message).toContain('Unfinished batch limit reached: 2 of 2 batches');
      }
      expect(await batchRows(tenant)).toBe(2);
    } finally {
      upstream.release();
    }
    await client.cancel(ids[0]);
    await waitFor(
      () => client.batch(ids[0]),
      (b) => TERMINAL.includes(b.status),
      60_000,
    );
    expect((await client.createBatch(file)).status).toBe('validating');
  });
});
