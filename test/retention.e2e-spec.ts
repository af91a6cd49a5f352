import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { FakeUpstream, fakeRouting, startFakeUpstream } from './support/fake-upstream';
import { startGateway, Tenant, TestGateway, waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { scrape } from './support/metrics';
import { rest, RestAnswer } from './support/rest-client';
import { PREFIXES, Prefix, sdkUpload, untilFinished, unwrap } from './support/sdk';

/** A file object without its token estimate, which is counted after the upload answers. */
function uncounted<T extends object>(file: T): T {
  return { ...file, input_tokens_estimate: null };
}

/**
 * File retention end to end: `expires_after` on uploads (official SDK and raw multipart, both
 * envelopes), `output_expires_after` on batches, the 30-day defaults, the bounds, and what expiry does:
 * an expired file is not found on any route at once, and the sweeper then deletes its bytes and row,
 * except while an unfinished batch still reads it. Also the files list's free `purpose` filter.
 */

jest.setTimeout(120_000);

const MODEL = 'fake-model';
const THIRTY_DAYS = 2_592_000;

// ---- helpers ----

const lines = (contents: string[]) => jsonl(contents.map((content, i) => requestLine(i, MODEL, { messages: [{ role: 'user', content }] })));
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A refusal in its prefix's envelope with `status` and `code`; returns the /v1 error object (null under /api/v1). */
function expectRefusal(res: RestAnswer, prefix: Prefix, status: number, code: string, param?: string): any {
  expect({ prefix, status: res.status }).toEqual({ prefix, status });
  if (prefix === '/api/v1') {
    expect(res.body).toEqual({ success: false, code, message: expect.any(String), data: null });
    return null;
  }
  expect(res.body.error).toMatchObject({ code, type: expect.any(String), message: expect.any(String) });
  if (param !== undefined) expect(res.body.error.param).toBe(param);
  return res.body.error;
}

/** A raw multipart upload with any extra text fields, sent after or before the file part. */
async function formUpload(gw: TestGateway, key: string, prefix: Prefix, content: string, fields: [string, string][], fileFirst = false): Promise<RestAnswer> {
  const form = new FormData();
  const file = () => form.append('file', new Blob([content], { type: 'application/jsonl' }), 'requests.jsonl');
  if (fileFirst) file();
  form.append('purpose', 'batch');
  for (const [name, value] of fields) form.append(name, value);
  if (!fileFirst) file();
  const res = await fetch(`${gw.url}${prefix}/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) };
}

const expiresAfterFields = (anchor: string, seconds: string): [string, string][] => [
  ['expires_after[anchor]', anchor],
  ['expires_after[seconds]', seconds],
];

/** Names in DATA_DIR/files: a file is stored as `<id>.jsonl` and `<id>.index`. */
function stored(gw: TestGateway): string[] {
  return readdirSync(join(gw.config.dataDir, 'files')).sort();
}

const storedOf = (gw: TestGateway, fileId: string) => stored(gw).filter((name) => name.startsWith(`${fileId}.`));

async function listIds(gw: TestGateway, tenant: Tenant, prefix: Prefix = '/v1', query = ''): Promise<string[]> {
  return unwrap(await rest(gw, tenant.apiKey, 'GET', `${prefix}/files${query}`), prefix).data.map((f: { id: string }) => f.id);
}

/** Sets a file's expires_at directly in the database (each dialect's placeholders). */
async function setFileExpiry(gw: TestGateway, fileId: string, expiresAt: number): Promise<void> {
  const sql = gw.config.databaseUrl ? 'UPDATE files SET expires_at = $1 WHERE id = $2' : 'UPDATE files SET expires_at = ? WHERE id = ?';
  await gw.dataSource.query(sql, [expiresAt, fileId]);
}

async function fileRowExists(gw: TestGateway, fileId: string): Promise<boolean> {
  const sql = gw.config.databaseUrl ? 'SELECT id FROM files WHERE id = $1' : 'SELECT id FROM files WHERE id = ?';
  return (await gw.dataSource.query(sql, [fileId])).length > 0;
}

async function expiredCount(gw: TestGateway, purpose: string): Promise<number> {
  return (await scrape(gw.url)).value('batch_gateway_files_expired_total', { purpose });
}

describe('File retention', () => {
  let gw: TestGateway;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    gw = await startGateway(
      { UPSTREAM_FAKE_KEY: 'sk-fake', FILE_SWEEP_INTERVAL_MS: '200', UPSTREAM_TIMEOUT_MS: '60000' },
      fakeRouting(upstream.url, { model: MODEL }),
    );
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  describe('uploads', () => {
    it('takes expires_after from the official SDK: expires_at is created_at + seconds, on create, get and list', async () => {
      const tenant = await gw.newTenant();
      const file = await sdkUpload(tenant, lines(['a']), { expiresAfter: { anchor: 'created_at', seconds: 7200 } });
      expect(file.expires_at).toBe(file.created_at + 7200);
      expect(uncounted(await tenant.openai.files.retrieve(file.id))).toEqual(uncounted(file));
      expect((await tenant.openai.files.list()).data).toEqual([file]);
    });

    it('takes expires_after as the multipart fields expires_after[anchor] and expires_after[seconds] under both prefixes, at both bounds', async () => {
      const tenant = await gw.newTenant();
      for (const prefix of PREFIXES) {
        for (const seconds of [3600, 2_592_000]) {
          for (const fileFirst of [false, true]) {
            const file = unwrap(
              await formUpload(gw, tenant.apiKey, prefix, lines(['b']), expiresAfterFields('created_at', String(seconds)), fileFirst),
              prefix,
            );
            expect({ prefix, seconds, fileFirst, expiresIn: file.expires_at - file.created_at }).toEqual({ prefix, seconds, fileFirst, expiresIn: seconds });
            await expect(tenant.openai.files.retrieve(file.id)).resolves.toMatchObject({ id: file.id, expires_at: file.created_at + seconds });
          }
        }
      }
    });

    it('expires an upload without expires_after after 30 days (SDK and multipart alike)', async () => {
      const tenant = await gw.newTenant();
      const viaSdk = await sdkUpload(tenant, lines(['c']));
      expect(viaSdk.expires_at).toBe(viaSdk.created_at + THIRTY_DAYS);
      for (const prefix of PREFIXES) {
        const viaForm = unwrap(await formUpload(gw, tenant.apiKey, prefix, lines(['c']), []), prefix);
        expect(viaForm.expires_at).toBe(viaForm.created_at + THIRTY_DAYS);
      }
    });

    it.each([
      ['seconds under an hour', 'expires_after.seconds', expiresAfterFields('created_at', '3599')],
      ['seconds over 30 days', 'expires_after.seconds', expiresAfterFields('created_at', '2592001')],
      ['non-integer seconds', 'expires_after.seconds', expiresAfterFields('created_at', '7200.5')],
      ['seconds that are not a number', 'expires_after.seconds', expiresAfterFields('created_at', 'soon')],
      ['negative seconds', 'expires_after.seconds', expiresAfterFields('created_at', '-3600')],
      ['no seconds', 'expires_after.seconds', [['expires_after[anchor]', 'created_at']]],
      ['another anchor', 'expires_after.anchor', expiresAfterFields('last_active_at', '7200')],
      ['no anchor', 'expires_after.anchor', [['expires_after[seconds]', '7200']]],
      ['a plain value', 'expires_after', [['expires_after', '7200']]],
      ['an unknown member', 'expires_after', [...expiresAfterFields('created_at', '7200'), ['expires_after[days]', '1']]],
    ] as [string, string, [string, string][]][])('refuses %s with 400 naming %s, and keeps nothing', async (_name, param, fields) => {
      const tenant = await gw.newTenant();
      const before = stored(gw);
      for (const prefix of PREFIXES) {
        const error = expectRefusal(await formUpload(gw, tenant.apiKey, prefix, lines(['d']), fields), prefix, 400, 'invalid_request_error', param);
        if (error) expect(error.message).toContain(param);
        expect(stored(gw)).toEqual(before);
        await expect(listIds(gw, tenant, prefix)).resolves.toEqual([]);
      }
    });

    it('makes the official SDK throw BadRequestError naming the parameter for out-of-range seconds and another anchor', async () => {
      const tenant = await gw.newTenant();
      const before = stored(gw);
      const cases: [OpenAI.FileCreateParams.ExpiresAfter, string][] = [
        [{ anchor: 'created_at', seconds: 3599 }, 'expires_after.seconds'],
        [{ anchor: 'created_at', seconds: 2_592_001 }, 'expires_after.seconds'],
        [{ anchor: 'created_at', seconds: 3600.5 }, 'expires_after.seconds'],
        [{ anchor: 'uploaded_at' as 'created_at', seconds: 7200 }, 'expires_after.anchor'],
      ];
      for (const [expiresAfter, param] of cases) {
        const error = await sdkUpload(tenant, lines(['e']), { expiresAfter }).then(
          () => null,
          (err: unknown) => err,
        );
        expect(error).toBeInstanceOf(OpenAI.BadRequestError);
        expect(error).toMatchObject({ status: 400, code: 'invalid_request_error', param });
      }
      expect(stored(gw)).toEqual(before);
      expect((await tenant.openai.files.list()).data).toEqual([]);
    });
  });

  describe('batch output files', () => {
    it('gives the output and error files expires_at = their created_at + output_expires_after.seconds', async () => {
      const tenant = await gw.newTenant();
      const input = await sdkUpload(tenant, lines(['fine', '#status=400']));
      const created = await tenant.openai.batches.create({
        input_file_id: input.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        output_expires_after: { anchor: 'created_at', seconds: 3600 },
      });
      const batch = await untilFinished(tenant, created.id);
      expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 2, completed: 1, failed: 1 } });
      for (const id of [batch.output_file_id!, batch.error_file_id!]) {
        const file = await tenant.openai.files.retrieve(id);
        expect(file).toMatchObject({ purpose: 'batch_output', expires_at: file.created_at + 3600 });
        expect(file.created_at).toBeGreaterThanOrEqual(batch.created_at);
      }
    });

    it('gives them 30 days when output_expires_after is left out, under both prefixes', async () => {
      const tenant = await gw.newTenant();
      for (const prefix of PREFIXES) {
        const input = await sdkUpload(tenant, lines(['fine', '#status=400']));
        const created = unwrap(
          await rest(gw, tenant.apiKey, 'POST', `${prefix}/batches`, { input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
          prefix,
        );
        const batch = await untilFinished(tenant, created.id);
        for (const id of [batch.output_file_id!, batch.error_file_id!]) {
          const file = unwrap(await rest(gw, tenant.apiKey, 'GET', `${prefix}/files/${id}`), prefix);
          expect({ prefix, expiresIn: file.expires_at - file.created_at }).toEqual({ prefix, expiresIn: THIRTY_DAYS });
        }
      }
    });

    it.each([
      ['seconds under an hour', 'output_expires_after.seconds', { anchor: 'created_at', seconds: 3599 }],
      ['seconds over 30 days', 'output_expires_after.seconds', { anchor: 'created_at', seconds: 2_592_001 }],
      ['non-integer seconds', 'output_expires_after.seconds', { anchor: 'created_at', seconds: 7200.5 }],
      ['seconds as a word', 'output_expires_after.seconds', { anchor: 'created_at', seconds: 'a day' }],
      ['another anchor', 'output_expires_after.anchor', { anchor: 'completed_at', seconds: 7200 }],
      ['a number', 'output_expires_after', 7200],
      ['an unknown member', 'output_expires_after', { anchor: 'created_at', seconds: 7200, days: 1 }],
    ] as [string, string, unknown][])('refuses output_expires_after with %s with 400 naming %s, and creates nothing', async (_name, param, value) => {
      const tenant = await gw.newTenant();
      const input = await sdkUpload(tenant, lines(['fine']));
      for (const prefix of PREFIXES) {
        const body = { input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h', output_expires_after: value };
        expectRefusal(await rest(gw, tenant.apiKey, 'POST', `${prefix}/batches`, body), prefix, 400, 'invalid_request_error', param);
      }
      expect((await tenant.openai.batches.list()).data).toEqual([]);
    });
  });

  describe('expiry', () => {
    it('answers 404 for an expired file on every route before the sweeper deletes it, then the sweeper deletes its bytes and row', async () => {
      const tenant = await gw.newTenant();
      const kept = await sdkUpload(tenant, lines(['kept']));
      const input = await sdkUpload(tenant, lines(['fine']));
      const batch = await untilFinished(
        tenant,
        (await tenant.openai.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id,
      );
      const output = batch.output_file_id!;
      const expiredBefore = { batch: await expiredCount(gw, 'batch'), output: await expiredCount(gw, 'batch_output') };

      // Expired a moment ago: within the sweeper's grace, so only the expiry itself can explain a 404.
      for (const id of [input.id, output]) await setFileExpiry(gw, id, nowSeconds() - 1);
      for (const id of [input.id, output]) {
        for (const prefix of PREFIXES) {
          for (const [method, path] of [
            ['GET', ''],
            ['GET', '/content'],
            ['DELETE', ''],
          ]) {
            expectRefusal(await rest(gw, tenant.apiKey, method, `${prefix}/files/${id}${path}`), prefix, 404, 'not_found');
          }
          expectRefusal(await rest(gw, tenant.apiKey, 'GET', `${prefix}/files?after=${id}`), prefix, 404, 'not_found', 'after');
          await expect(listIds(gw, tenant, prefix)).resolves.toEqual([kept.id]);
          await expect(listIds(gw, tenant, prefix, '?purpose=batch_output')).resolves.toEqual([]);
        }
        await expect(tenant.openai.files.retrieve(id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      }
      for (const prefix of PREFIXES) {
        const body = { input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' };
        expectRefusal(await rest(gw, tenant.apiKey, 'POST', `${prefix}/batches`, body), prefix, 404, 'not_found', 'input_file_id');
      }
      // The refused DELETE and the grace left everything in place.
      expect(storedOf(gw, input.id)).toEqual([`${input.id}.index`, `${input.id}.jsonl`]);
      expect(storedOf(gw, output)).toEqual([`${output}.jsonl`]);
      expect(await fileRowExists(gw, input.id)).toBe(true);

      for (const id of [input.id, output]) await setFileExpiry(gw, id, nowSeconds() - 3600);
      await waitFor(
        async () => [...storedOf(gw, input.id), ...storedOf(gw, output)],
        (names) => names.length === 0,
      );
      expect(await fileRowExists(gw, input.id)).toBe(false);
      expect(await fileRowExists(gw, output)).toBe(false);
      expect(await expiredCount(gw, 'batch')).toBeGreaterThanOrEqual(expiredBefore.batch + 1);
      expect(await expiredCount(gw, 'batch_output')).toBeGreaterThanOrEqual(expiredBefore.output + 1);

      // The unexpired file is untouched, bytes and all.
      expect(storedOf(gw, kept.id)).toEqual([`${kept.id}.index`, `${kept.id}.jsonl`]);
      expect(await (await tenant.openai.files.content(kept.id)).text()).toBe(lines(['kept']));
      // The batch still names its output file, which is gone as OpenAI's are.
      expect((await tenant.openai.batches.retrieve(batch.id)).output_file_id).toBe(output);
    });

    it('keeps an expired input file while its batch runs, and deletes it once the batch has ended', async () => {
      const tenant = await gw.newTenant();
      const input = await sdkUpload(tenant, lines(['#hang', '#hang']));
      const created = await tenant.openai.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
      await waitFor(
        () => tenant.openai.batches.retrieve(created.id),
        (b) => b.status === 'in_progress',
      );
      const other = await sdkUpload(tenant, lines(['other']));

      // The input expires first, so any sweep that reaches the other file has looked at the input already.
      await setFileExpiry(gw, input.id, nowSeconds() - 7200);
      await setFileExpiry(gw, other.id, nowSeconds() - 3600);
      await waitFor(
        () => fileRowExists(gw, other.id),
        (exists) => !exists,
      );
      expect(storedOf(gw, other.id)).toEqual([]);
      expect(await fileRowExists(gw, input.id)).toBe(true);
      expect(storedOf(gw, input.id)).toEqual([`${input.id}.index`, `${input.id}.jsonl`]);
      expect((await tenant.openai.batches.retrieve(created.id)).status).toBe('in_progress');
      // Expired for its owner all the same.
      await expect(tenant.openai.files.retrieve(input.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);

      await tenant.openai.batches.cancel(created.id);
      const batch = await untilFinished(tenant, created.id);
      expect(batch).toMatchObject({ status: 'cancelled', request_counts: { total: 2, completed: 0, failed: 2 } });
      await waitFor(
        () => fileRowExists(gw, input.id),
        (exists) => !exists,
      );
      expect(storedOf(gw, input.id)).toEqual([]);
    });
  });

  describe('listing by purpose', () => {
    it('treats purpose as a free filter: a purpose no file has lists nothing, never 400', async () => {
      const tenant = await gw.newTenant();
      const file = await sdkUpload(tenant, lines(['listed']));
      expect((await tenant.openai.files.list({ purpose: 'fine-tune' })).data).toEqual([]);
      expect((await tenant.openai.files.list({ purpose: 'batch' })).data.map((f) => f.id)).toEqual([file.id]);
      for (const prefix of PREFIXES) {
        for (const purpose of ['fine-tune', 'assistants', 'user_data', 'no such purpose']) {
          const page = unwrap(await rest(gw, tenant.apiKey, 'GET', `${prefix}/files?purpose=${encodeURIComponent(purpose)}`), prefix);
          expect({ purpose, page }).toEqual({ purpose, page: { object: 'list', data: [], first_id: null, last_id: null, has_more: false } });
        }
        await expect(listIds(gw, tenant, prefix, '?purpose=batch')).resolves.toEqual([file.id]);
        expectRefusal(await rest(gw, tenant.apiKey, 'GET', `${prefix}/files?purpose=${'p'.repeat(65)}`), prefix, 400, 'invalid_request_error', 'purpose');
      }
    });
  });
});
