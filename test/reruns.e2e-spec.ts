import { BatchReruns } from '@app/batches';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { adminClient } from './support/admin-client';
import { FakeUpstream, startFakeUpstream } from './support/fake-upstream';
import { backdated } from './support/gateway-clock';
import { startGateway, Tenant, TestGateway, waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { rest, ResultLine } from './support/rest-client';
import { PREFIXES, TERMINAL, fileLines, sdkUpload, unwrap, untilFinished } from './support/sdk';
import { startWebhookReceiver } from './support/webhook-receiver';

/**
 * Reruns (`POST /v1/batches/{id}/rerun`, the admin `rerunBatch`): a new batch of the same account from
 * the failed or unrun lines of a finished batch, on a real upstream whose requests are recorded, so
 * each test checks exactly which lines were sent again.
 */

jest.setTimeout(120_000);

const MODEL = 'rerun-model';
const ATTEMPTS = 3;
const DAY = 86_400;

const tag = () => randomBytes(4).toString('hex');

function linesWith(contents: string[], prefix: string): { customIds: string[]; file: string } {
  const lines = contents.map((content, i) => ({ ...requestLine(i, MODEL, { messages: [{ role: 'user', content }] }), custom_id: `${prefix}-${i}` }));
  return { customIds: lines.map((l) => l.custom_id), file: jsonl(lines) };
}

interface Rig {
  gw: TestGateway;
  upstream: FakeUpstream;
  dir: string;
}

async function startRig(): Promise<Rig> {
  const upstream = await startFakeUpstream();
  const dir = mkdtempSync(join(tmpdir(), 'bg-reruns-e2e-'));
  const routing = join(dir, 'routing.yaml');
  writeFileSync(
    routing,
    [
      'providers:',
      '  - id: fake',
      '    kind: openai',
      `    base_url: ${upstream.url}`,
      '    max_concurrency: 2',
      'skus:',
      `  - id: ${MODEL}@fake`,
      `    model: ${MODEL}`,
      '    provider: fake',
      '    upstream_model: fake-upstream-model',
      '    batch_capable: true',
      '    active: true',
      '',
    ].join('\n'),
  );
  try {
    const gw = await startGateway({ ROUTING_FILE: routing, UPSTREAM_TIMEOUT_MS: '2000', UPSTREAM_MAX_ATTEMPTS: String(ATTEMPTS) });
    return { gw, upstream, dir };
  } catch (err) {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

describe(BatchReruns.name, () => {
  let rig: Rig;
  let tenant: Tenant;

  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.gw.close();
    await rig?.upstream.close();
    if (rig) rmSync(rig.dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    tenant = await rig.gw.newTenant('rerun');
  });

  async function finishedBatch(contents: string[], prefix: string, metadata?: Record<string, string>, extra: Record<string, unknown> = {}) {
    const { customIds, file } = linesWith(contents, prefix);
    const input = await sdkUpload(tenant, file);
    const created = await tenant.openai.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata,
      ...extra,
    });
    const batch = await untilFinished(tenant, created.id);
    return { batch, customIds, file };
  }

  /** Runs `rerun`, then returns the new batch once finished and the contents the upstream received meanwhile. */
  async function rerunAndFinish(rerun: () => Promise<OpenAI.Batch>): Promise<{ created: OpenAI.Batch; batch: OpenAI.Batch; sent: string[] }> {
    const before = rig.upstream.arrivals.length;
    const created = await rerun();
    const batch = await untilFinished(tenant, created.id);
    return { created, batch, sent: rig.upstream.arrivals.slice(before) };
  }

  const customIdsOf = (lines: ResultLine[]) => lines.map((l) => l.custom_id);

  it('reruns only the lines that failed outside the request (5xx, 429 after every retry), not a 4xx answer; the new batch links back and answers them', async () => {
    const t = tag();
    const contents = [
      `fine ${t} 0`,
      `flaky ${t} 1 #status=500x${ATTEMPTS}`,
      `fine ${t} 2`,
      `refused ${t} 3 #status=400`,
      `busy ${t} 4 #status=429x${ATTEMPTS}`,
      `fine ${t} 5`,
    ];
    const { batch: original, file } = await finishedBatch(contents, 'first', { team: 'research', run: '7' });
    expect(original).toMatchObject({ status: 'completed', request_counts: { total: 6, completed: 3, failed: 3 } });

    const { created, batch, sent } = await rerunAndFinish(() => tenant.openai.post(`/batches/${original.id}/rerun`));
    expect(created).toMatchObject({
      object: 'batch',
      status: 'validating',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { team: 'research', run: '7', rerun_of: original.id },
    });
    expect(created.id).not.toBe(original.id);
    expect(created.input_file_id).not.toBe(original.input_file_id);
    // exactly the two lines, each once, and the 4xx line not at all
    expect([...sent].sort()).toEqual([contents[1], contents[4]].sort());
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 2, completed: 2, failed: 0 }, metadata: created.metadata });
    expect(customIdsOf(await fileLines(tenant, batch.output_file_id))).toEqual(['first-1', 'first-4']);
    expect(batch.error_file_id).toBeNull();

    // the new input is an ordinary batch file of the account: the original lines, byte for byte
    const input = await tenant.openai.files.retrieve(created.input_file_id);
    expect(input).toMatchObject({ purpose: 'batch', filename: `${original.id}_rerun.jsonl` });
    const text = await (await tenant.openai.files.content(created.input_file_id)).text();
    const originalLines = file.split('\n');
    expect(text).toBe(`${originalLines[1]}\n${originalLines[4]}\n`);
  });

  it('reruns the lines selected by error_codes only, under both envelopes', async () => {
    const t = tag();
    const contents = [`fine ${t} 0`, `refused ${t} 1 #status=400`, `down ${t} 2 #status=503x${ATTEMPTS}`, `refused ${t} 3 #status=404`];
    const { batch: original } = await finishedBatch(contents, 'pick');
    expect(original.request_counts).toEqual({ total: 4, completed: 1, failed: 3 });

    for (const prefix of PREFIXES) {
      const { batch, sent } = await rerunAndFinish(async () =>
        unwrap(await rest(rig.gw, tenant.apiKey, 'POST', `${prefix}/batches/${original.id}/rerun`, { error_codes: ['upstream_client_error'] }), prefix),
      );
      expect({ prefix, sent: [...sent].sort() }).toEqual({ prefix, sent: [contents[1], contents[3]].sort() });
      // still refused upstream: an error file again, with the answers kept
      expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 2, completed: 0, failed: 2 }, metadata: { rerun_of: original.id } });
      const errors = await fileLines(tenant, batch.error_file_id);
      expect(errors.map((l) => [l.custom_id, l.response?.status_code, l.error])).toEqual([
        ['pick-1', 400, null],
        ['pick-3', 404, null],
      ]);
    }

    const both = await rerunAndFinish(() =>
      tenant.openai.post(`/batches/${original.id}/rerun`, { body: { error_codes: ['upstream_server_error', 'upstream_client_error'] } }),
    );
    expect([...both.sent].sort()).toEqual([contents[1], contents[2], contents[3]].sort());
    expect(customIdsOf(await fileLines(tenant, both.batch.output_file_id))).toEqual(['pick-2']);
  });

  it('reruns the lines a cancel left unrun (batch_cancelled), and none of those that finished', async () => {
    const t = tag();
    const contents = Array.from({ length: 40 }, (_, i) => `slow ${t} ${i} #latency=100`);
    const { file } = linesWith(contents, 'stop');
    const input = await sdkUpload(tenant, file);
    const created = await tenant.openai.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await waitFor(
      () => tenant.openai.batches.retrieve(created.id),
      (b) => b.request_counts!.completed > 0,
      30_000,
    );
    await tenant.openai.batches.cancel(created.id);
    const cancelled = await untilFinished(tenant, created.id);
    expect(cancelled.status).toBe('cancelled');
    const unrun = (await fileLines(tenant, cancelled.error_file_id)).filter((l) => l.error?.code === 'batch_cancelled');
    expect(unrun.length).toBeGreaterThan(0);
    const done = customIdsOf(await fileLines(tenant, cancelled.output_file_id));

    const { batch, sent } = await rerunAndFinish(() => tenant.openai.post(`/batches/${created.id}/rerun`));
    const contentOf = (customId: string) => contents[Number(customId.split('-')[1])];
    expect([...sent].sort()).toEqual(unrun.map((l) => contentOf(l.custom_id)).sort());
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: unrun.length, completed: unrun.length, failed: 0 } });
    const output = customIdsOf(await fileLines(tenant, batch.output_file_id));
    expect(output).toEqual(customIdsOf(unrun));
    expect(output.filter((id) => done.includes(id))).toEqual([]);
  });

  it('writes the new input page after page of rows, byte for byte and in order, for thousands of lines', async () => {
    const t = tag();
    const LINES = 4500;
    const contents = Array.from({ length: LINES }, (_, i) => `many ${t} ${i} ${'x'.repeat(i % 50)} #latency=2000`);
    const { file } = linesWith(contents, 'many');
    const input = await sdkUpload(tenant, file);
    const created = await tenant.openai.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await tenant.openai.batches.cancel(created.id);
    const cancelled = await untilFinished(tenant, created.id);
    const unrun = new Set(customIdsOf(await fileLines(tenant, cancelled.error_file_id)).filter((id) => id.startsWith('many-')));
    expect(unrun.size).toBeGreaterThan(4000);

    const rerun: OpenAI.Batch = await tenant.openai.post(`/batches/${created.id}/rerun`);
    await tenant.openai.batches.cancel(rerun.id);
    const originalLines = file.split('\n').filter((l) => l !== '');
    const expected = originalLines.filter((_, i) => unrun.has(`many-${i}`)).join('\n') + '\n';
    expect(await (await tenant.openai.files.content(rerun.input_file_id)).text()).toBe(expected);
    expect(rerun.request_counts?.total).toBe(unrun.size);
    await untilFinished(tenant, rerun.id);
  });

  it('reruns the lines an expiry left unrun (batch_expired)', async () => {
    const t = tag();
    const contents = Array.from({ length: 40 }, (_, i) => `late ${t} ${i} #latency=100`);
    const { file } = linesWith(contents, 'late');
    // created a day and a minute ago by the gateway's clock: once it catches up, the window has passed
    const created = await backdated(rig.gw.app, (DAY + 60) * 1000, async () => {
      const input = await sdkUpload(tenant, file);
      const batch = await tenant.openai.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      return waitFor(
        () => tenant.openai.batches.retrieve(batch.id),
        (b) => b.request_counts!.completed > 0,
        30_000,
      );
    });
    const expired = await untilFinished(tenant, created.id);
    expect(expired.status).toBe('expired');
    const unrun = (await fileLines(tenant, expired.error_file_id)).filter((l) => l.error?.code === 'batch_expired');
    expect(unrun.length).toBeGreaterThan(0);

    const { batch, sent } = await rerunAndFinish(() => tenant.openai.post(`/batches/${expired.id}/rerun`, { body: { error_codes: ['batch_expired'] } }));
    expect([...sent].sort()).toEqual(unrun.map((l) => contents[Number(l.custom_id.split('-')[1])]).sort());
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: unrun.length, completed: unrun.length, failed: 0 } });
    expect(customIdsOf(await fileLines(tenant, batch.output_file_id))).toEqual(customIdsOf(unrun));
  });

  it('lets an operator rerun any account’s batch through rerunBatch, for that account', async () => {
    const t = tag();
    const { batch: original } = await finishedBatch([`fine ${t} 0`, `flaky ${t} 1 #status=502x${ATTEMPTS}`], 'admin');
    const admin = adminClient(rig.gw.url, rig.gw.adminToken);
    const before = rig.upstream.arrivals.length;
    const { rerunBatch } = await admin.query<{ rerunBatch: { id: string; accountId: string; status: string; metadata: { key: string; value: string }[] } }>(
      `mutation ($id: ID!, $codes: [String!]) { rerunBatch(id: $id, errorCodes: $codes) { id accountId status metadata { key value } } }`,
      { id: original.id, codes: ['upstream_server_error'] },
    );
    expect(rerunBatch).toMatchObject({ accountId: tenant.accountId, status: 'validating', metadata: [{ key: 'rerun_of', value: original.id }] });
    const batch = await untilFinished(tenant, rerunBatch.id);
    expect(rig.upstream.arrivals.slice(before)).toEqual([`flaky ${t} 1 #status=502x${ATTEMPTS}`]);
    expect(customIdsOf(await fileLines(tenant, batch.output_file_id))).toEqual(['admin-1']);
    const { batches } = await admin.query<{ batches: { edges: { node: { id: string } }[] } }>(
      `query ($id: String!) { batches(filter: { metadataKey: "rerun_of", metadataValue: $id }) { edges { node { id } } } }`,
      { id: original.id },
    );
    expect(batches.edges.map((e) => e.node.id)).toEqual([rerunBatch.id]);

    const refused = await admin.request(`mutation { rerunBatch(id: "${original.id}", errorCodes: ["invalid_request_line"]) { id } }`);
    expect(refused.errors?.[0].extensions).toMatchObject({ code: 'invalid_request_error' });
    const missing = await admin.request(`mutation { rerunBatch(id: "batch_missing") { id } }`);
    expect(missing.errors?.[0].extensions).toMatchObject({ code: 'not_found' });
  });

  it("sends the rerun's own terminal event to the original's callback_url", async () => {
    const hook = await startWebhookReceiver();
    try {
      const t = tag();
      const callback_url = `${hook.url}/hook`;
      const { batch: original } = await finishedBatch([`flaky ${t} 0 #status=500x${ATTEMPTS}`], 'hook', undefined, { callback_url });
      await hook.waitForRequests(1);
      const { batch } = await rerunAndFinish(() => tenant.openai.post(`/batches/${original.id}/rerun`));
      expect(batch).toMatchObject({ status: 'completed', callback_url });
      const events = (await hook.waitForRequests(2)).map((r) => JSON.parse(r.body));
      expect(events.map((e) => [e.type, e.data.id])).toEqual([
        ['batch.completed', original.id],
        ['batch.completed', batch.id],
      ]);
    } finally {
      await hook.close();
    }
  });

  it("goes through the account's quotas at create: refused with 429, leaving no file behind", async () => {
    const t = tag();
    const { batch } = await finishedBatch([`flaky ${t} 0 #status=500x${ATTEMPTS}`], 'quota');
    const admin = adminClient(rig.gw.url, rig.gw.adminToken);
    await admin.query(`mutation ($id: ID!) { setAccountQuotas(accountId: $id, input: { maxUnfinishedBatches: 0 }) { id } }`, { id: tenant.accountId });
    const files = async () => (await tenant.openai.files.list()).data.map((f) => f.id).sort();
    const before = await files();
    for (const prefix of PREFIXES) {
      const res = await rest(rig.gw, tenant.apiKey, 'POST', `${prefix}/batches/${batch.id}/rerun`);
      expect({ prefix, status: res.status, code: prefix === '/v1' ? res.body.error.code : res.body.code }).toEqual({
        prefix,
        status: 429,
        code: 'batch_limit_exceeded',
      });
    }
    expect(await files()).toEqual(before);
    await admin.query(`mutation ($id: ID!) { setAccountQuotas(accountId: $id, input: { maxUnfinishedBatches: null }) { id } }`, { id: tenant.accountId });
    const { batch: rerun } = await rerunAndFinish(() => tenant.openai.post(`/batches/${batch.id}/rerun`));
    expect(rerun.status).toBe('completed');
  });

  describe('refusals, the same under both envelopes', () => {
    async function expectRefused(path: string, body: unknown, status: number, code: string, param?: string | null): Promise<string> {
      let message = '';
      for (const prefix of PREFIXES) {
        const res = await rest(rig.gw, tenant.apiKey, 'POST', `${prefix}${path}`, body);
        expect({ prefix, status: res.status }).toEqual({ prefix, status });
        if (prefix === '/v1') {
          expect(res.body.error).toMatchObject({ code, message: expect.any(String) });
          if (param !== undefined) expect(res.body.error.param).toBe(param);
          message = res.body.error.message;
        } else {
          expect(res.body).toEqual({ success: false, code, message, data: null });
        }
      }
      return message;
    }

    it('refuses a batch that has not finished (409 batch_not_rerunnable)', async () => {
      const t = tag();
      const { file } = linesWith(
        Array.from({ length: 20 }, (_, i) => `slow ${t} ${i} #latency=200`),
        'busy',
      );
      const input = await sdkUpload(tenant, file);
      const created = await tenant.openai.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      const running = await waitFor(
        () => tenant.openai.batches.retrieve(created.id),
        (b) => b.status === 'in_progress',
        30_000,
      );
      const message = await expectRefused(`/batches/${running.id}/rerun`, undefined, 409, 'batch_not_rerunnable', 'batch_id');
      expect(message).toContain(running.id);
      expect(message).toContain('in_progress');
      await tenant.openai.batches.cancel(running.id);
      await untilFinished(tenant, running.id);
    });

    it('refuses a batch whose input file has expired (409 batch_not_rerunnable)', async () => {
      const t = tag();
      // the input expires an hour after its upload, which the gateway's clock puts two hours ago
      const original = await backdated(rig.gw.app, 2 * 3600 * 1000, async () => {
        const input = await sdkUpload(tenant, linesWith([`flaky ${t} 0 #status=500x${ATTEMPTS}`], 'old').file, {
          expiresAfter: { anchor: 'created_at', seconds: 3600 },
        });
        const created = await tenant.openai.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
        return untilFinished(tenant, created.id);
      });
      expect(original.request_counts).toMatchObject({ failed: 1 });
      const message = await expectRefused(`/batches/${original.id}/rerun`, undefined, 409, 'batch_not_rerunnable', 'batch_id');
      expect(message).toContain('expired');
    });

    it('refuses a batch whose input file was deleted (409 batch_not_rerunnable)', async () => {
      const t = tag();
      const { batch } = await finishedBatch([`flaky ${t} 0 #status=500x${ATTEMPTS}`], 'gone');
      await tenant.openai.files.delete(batch.input_file_id);
      const message = await expectRefused(`/batches/${batch.id}/rerun`, undefined, 409, 'batch_not_rerunnable', 'batch_id');
      expect(message).toContain('deleted');
    });

    it('refuses when nothing matches (400 batch_nothing_to_rerun), and leaves no file behind', async () => {
      const t = tag();
      const { batch } = await finishedBatch([`fine ${t} 0`, `refused ${t} 1 #status=400`], 'none');
      const filesBefore = (await tenant.openai.files.list()).data.length;
      await expectRefused(`/batches/${batch.id}/rerun`, undefined, 400, 'batch_nothing_to_rerun', 'batch_id');
      await expectRefused(`/batches/${batch.id}/rerun`, { error_codes: ['batch_expired'] }, 400, 'batch_nothing_to_rerun', 'error_codes');
      expect((await tenant.openai.files.list()).data.length).toBe(filesBefore);
    });

    it('refuses unknown and unrerunnable error codes (400 invalid_request_error on error_codes)', async () => {
      const t = tag();
      const { batch } = await finishedBatch([`refused ${t} 0 #status=400`], 'codes');
      const unknown = await expectRefused(`/batches/${batch.id}/rerun`, { error_codes: ['no_such_code'] }, 400, 'invalid_request_error', 'error_codes');
      expect(unknown).toContain('upstream_server_error');
      const invalid = await expectRefused(`/batches/${batch.id}/rerun`, { error_codes: ['invalid_request_line'] }, 400, 'invalid_request_error', 'error_codes');
      expect(invalid).toContain('invalid_request_line');
      await expectRefused(`/batches/${batch.id}/rerun`, { error_codes: [] }, 400, 'invalid_request_error', 'error_codes');
      await expectRefused(`/batches/${batch.id}/rerun`, { error_codes: 'upstream_client_error' }, 400, 'invalid_request_error', 'error_codes');
    });

    it("answers 404 for another account's batch and for an unknown id", async () => {
      const t = tag();
      const { batch } = await finishedBatch([`flaky ${t} 0 #status=500x${ATTEMPTS}`], 'mine');
      const owner = tenant;
      tenant = await rig.gw.newTenant('stranger');
      await expectRefused(`/batches/${batch.id}/rerun`, undefined, 404, 'not_found');
      await expectRefused(`/batches/batch_missing/rerun`, undefined, 404, 'not_found');
      expect(TERMINAL).toContain((await owner.openai.batches.retrieve(batch.id)).status);
    });
  });
});
