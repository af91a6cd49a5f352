import { FilesService } from '@app/files';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { startGateway, Tenant, TestGateway } from './support/gateway';
import { jsonl, requestFile, requestLine } from './support/jsonl';

/**
 * The Files API as docs/api.md documents it, under both envelopes: the curl-style and SDK uploads, the
 * whole read/list/delete cycle, cursor pagination, refused uploads that leave nothing behind (neither in
 * the tenant's list nor in the storage directory), accepted edge cases, tenant isolation, unknown routes
 * and bad list parameters, and the configured limits on a gateway of their own.
 */

const PREFIXES = ['/v1', '/api/v1'] as const;
type Prefix = (typeof PREFIXES)[number];

interface Answer {
  status: number;
  body: any;
  text: string;
}

interface UploadParts {
  /** The file part; left out, no file part is sent. */
  file?: string | Buffer;
  filename?: string;
  /** The purpose field; left out, none is sent. */
  purpose?: string;
}

async function call(gw: TestGateway, key: string | null, method: string, path: string, body?: FormData, json?: unknown): Promise<Answer> {
  const headers: Record<string, string> = key === null ? {} : { authorization: `Bearer ${key}` };
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${gw.url}${path}`, { method, headers, body: json === undefined ? body : JSON.stringify(json) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Content downloads are JSONL, not JSON: keep the text.
  }
  return { status: res.status, body: parsed, text };
}

function form(parts: UploadParts): FormData {
  const data = new FormData();
  if (parts.purpose !== undefined) data.append('purpose', parts.purpose);
  if (parts.file !== undefined) {
    const bytes = typeof parts.file === 'string' ? Buffer.from(parts.file, 'utf8') : parts.file;
    data.append('file', new Blob([new Uint8Array(bytes)]), parts.filename ?? 'requests.jsonl');
  }
  return data;
}

function upload(gw: TestGateway, key: string | null, prefix: Prefix, parts: UploadParts): Promise<Answer> {
  return call(gw, key, 'POST', `${prefix}/files`, form(parts));
}

/** The object in a success answer, after checking its prefix's envelope. */
function unwrap(res: Answer, prefix: Prefix): any {
  expect({ prefix, status: res.status, body: res.body }).toEqual({ prefix, status: 200, body: expect.anything() });
  if (prefix === '/v1') {
    expect(res.body).not.toHaveProperty('success');
    return res.body;
  }
  expect(res.body).toEqual({ success: true, code: '200', message: 'successful', data: expect.any(Object) });
  return res.body.data;
}

/** Checks an error answer in its prefix's envelope and returns its message. */
function expectError(res: Answer, prefix: Prefix, status: number, code: string, extra: { param?: string; type?: string } = {}): string {
  expect({ prefix, status: res.status }).toEqual({ prefix, status });
  if (prefix === '/v1') {
    expect(res.body).toEqual({
      error: {
        message: expect.stringMatching(/\S/),
        type: extra.type ?? expect.any(String),
        // Unless the case names one, the param may be anything, null included, but must be present.
        param: extra.param ?? res.body?.error?.param,
        code,
      },
    });
    expect(res.body.error).toHaveProperty('param');
    return res.body.error.message;
  }
  expect(res.body).toEqual({ success: false, code, message: expect.stringMatching(/\S/), data: null });
  return res.body.message;
}

function stored(gw: TestGateway): string[] {
  return readdirSync(join(gw.config.dataDir, 'files')).sort();
}

async function listIds(gw: TestGateway, tenant: Tenant): Promise<string[]> {
  const page = unwrap(await call(gw, tenant.apiKey, 'GET', '/v1/files'), '/v1');
  return page.data.map((f: { id: string }) => f.id);
}

/** Refused under both prefixes with the same status and code; the list and the storage directory stay as they were. */
async function expectRefused(gw: TestGateway, tenant: Tenant, parts: UploadParts, status: number, code: string): Promise<string[]> {
  const listed = await listIds(gw, tenant);
  const onDisk = stored(gw);
  const messages: string[] = [];
  for (const prefix of PREFIXES) {
    messages.push(expectError(await upload(gw, tenant.apiKey, prefix, parts), prefix, status, code));
    expect({ prefix, newOnDisk: stored(gw).filter((n) => !onDisk.includes(n)) }).toEqual({ prefix, newOnDisk: [] });
    expect(await listIds(gw, tenant)).toEqual(listed);
  }
  return messages;
}

function expectFileObject(file: unknown, bytes: number, filename: string): void {
  expect(file).toEqual({
    id: expect.stringMatching(/^file-/),
    object: 'file',
    bytes,
    created_at: expect.any(Number),
    filename,
    purpose: 'batch',
    status: 'processed',
    expires_at: null,
    status_details: null,
  });
}

async function sdkUpload(tenant: Tenant, text: string, filename = 'x.jsonl'): Promise<OpenAI.FileObject> {
  return tenant.openai.files.create({ file: await toFile(Buffer.from(text), filename), purpose: 'batch' });
}

describe(FilesService.name, () => {
  describe('with the default limits', () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway();
    });
    afterAll(() => gw?.close());

    it('accepts a curl-style multipart upload under /api/v1 in the dashscope envelope and under /v1 as the plain object', async () => {
      const tenant = await gw.newTenant();
      const text = requestFile(2);
      const before = Math.floor(Date.now() / 1000);

      const enveloped = await upload(gw, tenant.apiKey, '/api/v1', { purpose: 'batch', file: text, filename: 'requests.jsonl' });
      const data = unwrap(enveloped, '/api/v1');
      expectFileObject(data, Buffer.byteLength(text), 'requests.jsonl');
      expect(data.created_at).toBeGreaterThanOrEqual(before);
      expect(data.created_at).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));

      const plain = unwrap(await upload(gw, tenant.apiKey, '/v1', { purpose: 'batch', file: text, filename: 'plain.jsonl' }), '/v1');
      expectFileObject(plain, Buffer.byteLength(text), 'plain.jsonl');
      expect(plain.id).not.toBe(data.id);
      expect(await listIds(gw, tenant)).toEqual([plain.id, data.id]);
    });

    it('serves create, retrieve, list, content and delete to the official SDK, then answers 404 for the deleted file', async () => {
      const tenant = await gw.newTenant();
      const text = requestFile(3);

      const created = await sdkUpload(tenant, text);
      expectFileObject(created, Buffer.byteLength(text), 'x.jsonl');

      expect(await tenant.openai.files.retrieve(created.id)).toEqual(created);

      const listed: OpenAI.FileObject[] = [];
      for await (const file of tenant.openai.files.list()) listed.push(file);
      expect(listed).toEqual([created]);

      const content = await tenant.openai.files.content(created.id);
      expect(await content.text()).toBe(text);

      expect(await tenant.openai.files.delete(created.id)).toEqual({ id: created.id, object: 'file', deleted: true });

      const error = await tenant.openai.files.retrieve(created.id).then(
        () => null,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(404);
      expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('not_found');
      expect(await listIds(gw, tenant)).toEqual([]);
    });

    it('pages the list newest first with limit and after, reverses with order=asc and filters by purpose', async () => {
      const tenant = await gw.newTenant();
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await sdkUpload(tenant, requestFile(i + 1), `part-${i}.jsonl`)).id);
      const [oldest, middle, newest] = ids;

      const first = unwrap(await call(gw, tenant.apiKey, 'GET', '/v1/files?limit=2'), '/v1');
      expect(first).toEqual({ object: 'list', data: expect.any(Array), first_id: newest, last_id: middle, has_more: true });
      expect(first.data.map((f: { id: string }) => f.id)).toEqual([newest, middle]);

      const rest = unwrap(await call(gw, tenant.apiKey, 'GET', `/v1/files?limit=2&after=${first.last_id}`), '/v1');
      expect(rest).toEqual({ object: 'list', data: [expect.objectContaining({ id: oldest })], first_id: oldest, last_id: oldest, has_more: false });

      const asc = unwrap(await call(gw, tenant.apiKey, 'GET', '/api/v1/files?order=asc'), '/api/v1');
      expect(asc.data.map((f: { id: string }) => f.id)).toEqual([oldest, middle, newest]);
      expect(asc).toMatchObject({ first_id: oldest, last_id: newest, has_more: false });

      const ascPage = unwrap(await call(gw, tenant.apiKey, 'GET', `/v1/files?order=asc&limit=1&after=${oldest}`), '/v1');
      expect(ascPage).toMatchObject({ first_id: middle, last_id: middle, has_more: true });

      const outputs = unwrap(await call(gw, tenant.apiKey, 'GET', '/v1/files?purpose=batch_output'), '/v1');
      expect(outputs).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });

      const batches = unwrap(await call(gw, tenant.apiKey, 'GET', '/v1/files?purpose=batch'), '/v1');
      expect(batches.data.map((f: { id: string }) => f.id)).toEqual([newest, middle, oldest]);
    });

    describe('refuses an upload under both prefixes and leaves nothing behind', () => {
      it('without a file part: 400 missing_file', async () => {
        await expectRefused(gw, await gw.newTenant(), { purpose: 'batch' }, 400, 'missing_file');
      });

      it('without a purpose: 400 invalid_purpose', async () => {
        await expectRefused(gw, await gw.newTenant(), { file: requestFile(1) }, 400, 'invalid_purpose');
      });

      it('with purpose fine-tune: 400 invalid_purpose', async () => {
        await expectRefused(gw, await gw.newTenant(), { purpose: 'fine-tune', file: requestFile(1) }, 400, 'invalid_purpose');
      });

      it('with a line that is not JSON: 400 invalid_file_format naming the line', async () => {
        const file = jsonl([requestLine(1), 'not json', requestLine(3)]);
        const messages = await expectRefused(gw, await gw.newTenant(), { purpose: 'batch', file }, 400, 'invalid_file_format');
        for (const message of messages) expect(message).toContain('Line 2');
      });

      it('with a line that is JSON but not an object: 400 invalid_file_format', async () => {
        const file = jsonl([requestLine(1), '[1,2]']);
        const messages = await expectRefused(gw, await gw.newTenant(), { purpose: 'batch', file }, 400, 'invalid_file_format');
        for (const message of messages) expect(message).toContain('Line 2');
      });

      it('with bytes that are not UTF-8: 400 invalid_encoding', async () => {
        const file = Buffer.concat([Buffer.from(jsonl([requestLine(1)])), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]);
        const messages = await expectRefused(gw, await gw.newTenant(), { purpose: 'batch', file }, 400, 'invalid_encoding');
        for (const message of messages) expect(message).toContain('Line 2');
      });

      it('with an empty file: 400 empty_file', async () => {
        await expectRefused(gw, await gw.newTenant(), { purpose: 'batch', file: '' }, 400, 'empty_file');
      });

      it('with a blank line in the middle: 400 invalid_file_format', async () => {
        const file = jsonl([requestLine(1), '', requestLine(2)]);
        const messages = await expectRefused(gw, await gw.newTenant(), { purpose: 'batch', file }, 400, 'invalid_file_format');
        for (const message of messages) expect(message).toContain('Line 2');
      });

      it('without an API key or with an unknown one: 401 invalid_api_key', async () => {
        const tenant = await gw.newTenant();
        const onDisk = stored(gw);
        for (const prefix of PREFIXES) {
          for (const key of [null, 'sk-not-a-real-key', `${tenant.apiKey}x`]) {
            expectError(await upload(gw, key, prefix, { purpose: 'batch', file: requestFile(1) }), prefix, 401, 'invalid_api_key');
          }
        }
        expect(stored(gw)).toEqual(onDisk);
        expect(await listIds(gw, tenant)).toEqual([]);
      });
    });

    describe('accepts', () => {
      it('CRLF line ends and a blank last line, storing the bytes as sent', async () => {
        const tenant = await gw.newTenant();
        const text = jsonl([requestLine(1), requestLine(2)], '\r\n') + '\r\n';
        const file = unwrap(await upload(gw, tenant.apiKey, '/v1', { purpose: 'batch', file: text }), '/v1');
        expectFileObject(file, Buffer.byteLength(text), 'requests.jsonl');
        const content = await call(gw, tenant.apiKey, 'GET', `/v1/files/${file.id}/content`);
        expect(content.status).toBe(200);
        expect(content.text).toBe(text);
      });

      it('a file whose request fields are wrong (duplicate custom_id, no body.model): those are reported at batch create', async () => {
        const tenant = await gw.newTenant();
        const noModel = { ...requestLine(3), body: { messages: [{ role: 'user', content: 'hi' }] } };
        const text = jsonl([requestLine(1), requestLine(1), noModel]);
        for (const prefix of PREFIXES) {
          expectFileObject(unwrap(await upload(gw, tenant.apiKey, prefix, { purpose: 'batch', file: text }), prefix), Buffer.byteLength(text), 'requests.jsonl');
        }
        const ids = await listIds(gw, tenant);
        expect(ids).toHaveLength(2);

        const batch = await call(gw, tenant.apiKey, 'POST', '/v1/batches', undefined, { input_file_id: ids[0] });
        expect(expectError(batch, '/v1', 400, 'batch_invalid_jsonl')).toMatch(/line 2/i);
      });
    });

    it("answers 404 not_found for another tenant's file under both prefixes and leaves it whole for its owner", async () => {
      const owner = await gw.newTenant('owner');
      const other = await gw.newTenant('other');
      const text = requestFile(2);
      const file = await sdkUpload(owner, text);

      for (const prefix of PREFIXES) {
        expectError(await call(gw, other.apiKey, 'GET', `${prefix}/files/${file.id}`), prefix, 404, 'not_found');
        expectError(await call(gw, other.apiKey, 'GET', `${prefix}/files/${file.id}/content`), prefix, 404, 'not_found');
        expectError(await call(gw, other.apiKey, 'DELETE', `${prefix}/files/${file.id}`), prefix, 404, 'not_found');
      }
      expect(await listIds(gw, other)).toEqual([]);

      expect(await owner.openai.files.retrieve(file.id)).toEqual(file);
      expect(await (await owner.openai.files.content(file.id)).text()).toBe(text);
      const raw = await call(gw, owner.apiKey, 'GET', `/api/v1/files/${file.id}/content`);
      expect({ status: raw.status, text: raw.text }).toEqual({ status: 200, text });
      expect(await listIds(gw, owner)).toEqual([file.id]);
    });

    it('answers an unknown route with 404 not_found in the dashscope envelope', async () => {
      const tenant = await gw.newTenant();
      expectError(await call(gw, tenant.apiKey, 'GET', '/api/v1/nope'), '/api/v1', 404, 'not_found');
      expectError(await call(gw, tenant.apiKey, 'GET', '/v1/nope'), '/v1', 404, 'not_found');
    });

    it('refuses limit=0 with 400 invalid_request_error naming the limit param', async () => {
      const tenant = await gw.newTenant();
      for (const prefix of PREFIXES) {
        expectError(await call(gw, tenant.apiKey, 'GET', `${prefix}/files?limit=0`), prefix, 400, 'invalid_request_error', {
          param: 'limit',
          type: 'invalid_request_error',
        });
      }
    });
  });

  describe('with small configured limits', () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway({ MAX_FILE_BYTES: '4000', MAX_FILE_LINES: '3', MAX_LINE_BYTES: '300' });
    });
    afterAll(() => gw?.close());

    /** A request line of exactly `bytes` bytes. */
    function lineOf(i: number, bytes: number): string {
      const bare = JSON.stringify(requestLine(i, 'batch-test-model', { messages: [{ role: 'user', content: '' }] }));
      const line = JSON.stringify(requestLine(i, 'batch-test-model', { messages: [{ role: 'user', content: 'x'.repeat(bytes - Buffer.byteLength(bare)) }] }));
      expect(Buffer.byteLength(line)).toBe(bytes);
      return line;
    }

    it('accepts a file at every limit', async () => {
      const tenant = await gw.newTenant();
      const text = jsonl([lineOf(1, 300), lineOf(2, 300), lineOf(3, 300)]);
      expectFileObject(unwrap(await upload(gw, tenant.apiKey, '/v1', { purpose: 'batch', file: text }), '/v1'), Buffer.byteLength(text), 'requests.jsonl');
    });

    it('refuses a 400-byte line with 400 line_too_large', async () => {
      await expectRefused(gw, await gw.newTenant(), { purpose: 'batch', file: jsonl([lineOf(1, 400)]) }, 400, 'line_too_large');
    });

    it('refuses four lines with 400 too_many_lines', async () => {
      await expectRefused(gw, await gw.newTenant(), { purpose: 'batch', file: requestFile(4) }, 400, 'too_many_lines');
    });

    it('refuses a 6000-byte file with 413 file_too_large', async () => {
      const file = 'x'.repeat(6000);
      await expectRefused(gw, await gw.newTenant(), { purpose: 'batch', file }, 413, 'file_too_large');
    });
  });
});
