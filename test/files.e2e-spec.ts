import { FilesService } from '@app/files';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { startGateway, Tenant, TestGateway, waitFor } from './support/gateway';
import { jsonl, requestFile, requestLine } from './support/jsonl';
import { PREFIXES, Prefix, sdkUpload, TERMINAL, unwrap } from './support/sdk';

/**
 * The Files API end to end, under both prefixes: uploads (multipart, the documented curl form and the
 * official SDK), the line-by-line checks that refuse a file and leave nothing behind (in the tenant's
 * list and on disk), request-field problems that are only reported at batch create, reading, listing
 * with cursors and filters, deleting, tenant isolation, and the configured size limits at their edges.
 */

type APIError = InstanceType<typeof OpenAI.APIError>;

interface Answer {
  status: number;
  /** The parsed JSON body, or the text when it is not JSON. */
  body: any;
  bytes: Buffer;
}

interface UploadParts {
  /** The file part's bytes; left out, no file part is sent. */
  file?: string | Buffer;
  filename?: string;
  /** The purpose field; left out, none is sent. */
  purpose?: string;
  /** The multipart field name of the file part (`file` by default). */
  fileField?: string;
  /** Sends the file part before the purpose field (as `curl -F file=@… -F purpose=batch` does). */
  fileFirst?: boolean;
}

interface ExpectedError {
  status: number;
  code: string;
  param?: string | null;
  type?: string;
  message?: RegExp;
}

async function send(gw: TestGateway, key: string | null, method: string, path: string, body?: FormData | string): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (typeof body === 'string') headers['content-type'] = 'application/json';
  const res = await fetch(`${gw.url}${path}`, { method, headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    parsed = bytes.toString('utf8');
  }
  return { status: res.status, body: parsed, bytes };
}

/** A multipart body built the way `curl -F purpose=batch -F file=@requests.jsonl` builds it. */
function uploadForm(parts: UploadParts): FormData {
  const form = new FormData();
  const addPurpose = () => parts.purpose !== undefined && form.append('purpose', parts.purpose);
  const addFile = () => {
    if (parts.file === undefined) return;
    const bytes = typeof parts.file === 'string' ? Buffer.from(parts.file, 'utf8') : parts.file;
    form.append(parts.fileField ?? 'file', new Blob([new Uint8Array(bytes)], { type: 'application/octet-stream' }), parts.filename ?? 'requests.jsonl');
  };
  if (parts.fileFirst) {
    addFile();
    addPurpose();
  } else {
    addPurpose();
    addFile();
  }
  return form;
}

function upload(gw: TestGateway, key: string | null, prefix: Prefix, parts: UploadParts): Promise<Answer> {
  return send(gw, key, 'POST', `${prefix}/files`, uploadForm(parts));
}

/** Checks an error answer in its prefix's envelope; returns the message. */
function expectError(res: Answer, prefix: Prefix, expected: ExpectedError): string {
  expect({ prefix, status: res.status }).toEqual({ prefix, status: expected.status });
  const message = expect.stringMatching(expected.message ?? /\S/);
  if (prefix === '/v1') {
    expect(res.body).toEqual({
      error: {
        message,
        type: expected.type ?? 'invalid_request_error',
        // Left unspecified, the param may be anything (null included) but must be there.
        param: expected.param === undefined ? res.body?.error?.param : expected.param,
        code: expected.code,
      },
    });
    expect(res.body.error).toHaveProperty('param');
    return res.body.error.message;
  }
  expect(res.body).toEqual({ success: false, code: expected.code, message, data: null });
  return res.body.message;
}

/** Everything in the file storage directory: a file is stored as `<id>.jsonl` and `<id>.index`. */
function storedNames(gw: TestGateway): string[] {
  return readdirSync(join(gw.config.dataDir, 'files')).sort();
}

/** Names in the storage directory that were not there before (pieces of files, temporary ones included). */
function newNames(gw: TestGateway, before: string[]): string[] {
  return storedNames(gw).filter((name) => !before.includes(name));
}

async function listIds(gw: TestGateway, tenant: Tenant, query = ''): Promise<string[]> {
  const page = unwrap(await send(gw, tenant.apiKey, 'GET', `/v1/files${query}`), '/v1');
  return page.data.map((f: { id: string }) => f.id);
}

/** The upload is refused with the same status and code under both prefixes, and leaves nothing behind. */
async function expectUploadRefused(gw: TestGateway, tenant: Tenant, parts: UploadParts, expected: ExpectedError): Promise<void> {
  const listed = await listIds(gw, tenant);
  const onDisk = storedNames(gw);
  const messages: string[] = [];
  for (const prefix of PREFIXES) {
    messages.push(expectError(await upload(gw, tenant.apiKey, prefix, parts), prefix, expected));
    expect({ prefix, leftBehind: newNames(gw, onDisk) }).toEqual({ prefix, leftBehind: [] });
    await expect(listIds(gw, tenant)).resolves.toEqual(listed);
  }
  expect(messages[1]).toEqual(messages[0]);
}

/** A request line of exactly `bytes` bytes (UTF-8), padded in its message content. */
function lineOfBytes(i: number, bytes: number): string {
  const bare = JSON.stringify(requestLine(i, 'batch-test-model', { messages: [{ role: 'user', content: '' }] }));
  const pad = bytes - Buffer.byteLength(bare);
  if (pad < 0) throw new Error(`A request line cannot be as short as ${bytes} bytes`);
  const line = JSON.stringify(requestLine(i, 'batch-test-model', { messages: [{ role: 'user', content: 'x'.repeat(pad) }] }));
  expect(Buffer.byteLength(line)).toBe(bytes);
  return line;
}

/** A file object without its token estimate, which is counted after the upload answers. */
function uncounted<T extends object>(file: T): T {
  return { ...file, input_tokens_estimate: null };
}

function expectFileObject(file: unknown, expected: { bytes: number; filename: string; since: number }): void {
  expect(file).toEqual({
    id: expect.stringMatching(/^file-[A-Za-z0-9_-]+$/),
    object: 'file',
    bytes: expected.bytes,
    created_at: expect.any(Number),
    filename: expected.filename,
    purpose: 'batch',
    status: 'processed',
    expires_at: expect.any(Number),
    status_details: null,
    // The upload answers before its tokens are counted (see test/quotas.e2e-spec.ts for the count).
    input_tokens_estimate: null,
  });
  const createdAt = (file as { created_at: number }).created_at;
  // Batch input files expire after 30 days unless the upload says otherwise (test/retention.e2e-spec.ts).
  expect((file as { expires_at: number }).expires_at).toBe(createdAt + 30 * 86_400);
  expect(createdAt).toBeGreaterThanOrEqual(Math.floor(expected.since / 1000));
  expect(createdAt).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
}

/** Uploads `count` files one after another; returns their ids oldest first. */
async function uploadMany(tenant: Tenant, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await sdkUpload(tenant, requestFile(1 + i), { filename: `part-${i}.jsonl` })).id);
  return ids;
}

async function expectSdkError(promise: Promise<unknown>, status: number, code: string): Promise<void> {
  const error = await promise.then(
    () => null,
    (err: unknown) => err as APIError,
  );
  expect(error).toBeInstanceOf(OpenAI.APIError);
  expect({ status: error?.status, code: error?.code }).toEqual({ status, code });
}

describe(FilesService.name, () => {
  describe('on the default limits', () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway();
    });
    afterAll(() => gw?.close());

    describe('uploading', () => {
      it('answers the documented envelope to the curl-style upload under /api/v1, and the same file under /v1', async () => {
        const tenant = await gw.newTenant();
        const content = jsonl([requestLine(1), requestLine(2)]);
        const since = Date.now();
        const res = await upload(gw, tenant.apiKey, '/api/v1', { purpose: 'batch', file: content, filename: 'requests.jsonl' });

        expect(res.status).toBe(200);
        expect(Object.keys(res.body).sort()).toEqual(['code', 'data', 'message', 'success']);
        const file = unwrap(res, '/api/v1');
        expectFileObject(file, { bytes: Buffer.byteLength(content), filename: 'requests.jsonl', since });
        expect(uncounted(unwrap(await send(gw, tenant.apiKey, 'GET', `/api/v1/files/${file.id}`), '/api/v1'))).toEqual(file);
        expect(uncounted(unwrap(await send(gw, tenant.apiKey, 'GET', `/v1/files/${file.id}`), '/v1'))).toEqual(file);
        expect(storedNames(gw)).toEqual(expect.arrayContaining([`${file.id}.jsonl`, `${file.id}.index`]));
      });

      it('answers the plain file object under /v1, whichever order the multipart parts come in', async () => {
        const tenant = await gw.newTenant();
        const content = requestFile(3);
        const since = Date.now();
        const purposeFirst = unwrap(await upload(gw, tenant.apiKey, '/v1', { purpose: 'batch', file: content, filename: 'a.jsonl' }), '/v1');
        const fileFirst = unwrap(await upload(gw, tenant.apiKey, '/v1', { purpose: 'batch', file: content, filename: 'b.jsonl', fileFirst: true }), '/v1');

        expectFileObject(purposeFirst, { bytes: Buffer.byteLength(content), filename: 'a.jsonl', since });
        expectFileObject(fileFirst, { bytes: Buffer.byteLength(content), filename: 'b.jsonl', since });
        expect(fileFirst.id).not.toEqual(purposeFirst.id);
        await expect(listIds(gw, tenant)).resolves.toEqual([fileFirst.id, purposeFirst.id]);
      });

      it('uploads, retrieves and downloads through the official SDK, byte for byte', async () => {
        const tenant = await gw.newTenant();
        const content = jsonl([requestLine(1, 'batch-test-model', { messages: [{ role: 'user', content: 'héllo wörld ✓ 你好 🙂' }] }), requestLine(2)]);
        const since = Date.now();

        const created = await sdkUpload(tenant, content, { filename: 'sdk.jsonl' });
        expectFileObject(created, { bytes: Buffer.byteLength(content), filename: 'sdk.jsonl', since });
        expect(uncounted(await tenant.openai.files.retrieve(created.id))).toEqual(created);
        const downloaded = Buffer.from(await (await tenant.openai.files.content(created.id)).arrayBuffer());
        expect(downloaded.equals(Buffer.from(content))).toBe(true);
      });

      it('streams the content as raw bytes under /api/v1 too, not wrapped in the envelope', async () => {
        const tenant = await gw.newTenant();
        const content = requestFile(2);
        const file = await sdkUpload(tenant, content);

        for (const prefix of PREFIXES) {
          const res = await send(gw, tenant.apiKey, 'GET', `${prefix}/files/${file.id}/content`);
          expect({ prefix, status: res.status }).toEqual({ prefix, status: 200 });
          expect(res.bytes.toString('utf8')).toEqual(content);
        }
      });

      it('keeps a non-ASCII filename as uploaded, and still serves the content', async () => {
        const tenant = await gw.newTenant();
        const content = requestFile(1);
        const name = 'données 数据.jsonl';

        const viaSdk = await sdkUpload(tenant, content, { filename: name });
        const viaForm = unwrap(await upload(gw, tenant.apiKey, '/api/v1', { purpose: 'batch', file: content, filename: name }), '/api/v1');
        expect([viaSdk.filename, viaForm.filename]).toEqual([name, name]);
        for (const id of [viaSdk.id, viaForm.id]) {
          const res = await send(gw, tenant.apiKey, 'GET', `/v1/files/${id}/content`);
          expect({ status: res.status, content: res.bytes.toString('utf8') }).toEqual({ status: 200, content });
        }
      });

      it('keeps a multi-megabyte file whose lines cross every chunk boundary intact', async () => {
        const tenant = await gw.newTenant();
        const lines = Array.from({ length: 3000 }, (_, i) => lineOfBytes(i, 300 + ((i * 7919) % 1700)));
        const content = jsonl(lines);
        expect(Buffer.byteLength(content)).toBeGreaterThan(2 * 1024 * 1024);

        const file = await sdkUpload(tenant, content, { filename: 'big.jsonl' });
        expect(file.bytes).toBe(Buffer.byteLength(content));
        const downloaded = Buffer.from(await (await tenant.openai.files.content(file.id)).arrayBuffer());
        expect(downloaded.equals(Buffer.from(content))).toBe(true);
      });

      it.each([
        ['CRLF line ends', jsonl([requestLine(1), requestLine(2)], '\r\n')],
        ['a blank last line', jsonl([requestLine(1), requestLine(2)]) + '\n'],
        ['a blank last line after CRLF', jsonl([requestLine(1), requestLine(2)], '\r\n') + '\r\n'],
        ['no newline at the end', jsonl([requestLine(1), requestLine(2)]).trimEnd()],
      ])('accepts %s and keeps the bytes as sent', async (_name, content) => {
        const tenant = await gw.newTenant();
        const file = await sdkUpload(tenant, content);

        expect(file).toMatchObject({ bytes: Buffer.byteLength(content), status: 'processed' });
        const downloaded = Buffer.from(await (await tenant.openai.files.content(file.id)).arrayBuffer());
        expect(downloaded.equals(Buffer.from(content))).toBe(true);
      });

      it.each([
        [
          'a line without custom_id',
          { method: 'POST', url: '/v1/chat/completions', body: { model: 'batch-test-model', messages: [{ role: 'user', content: 'hi' }] } },
          /Line 2: custom_id/,
        ],
        ['a duplicate custom_id', requestLine(1), /Line 2: custom_id 'req-1' is a duplicate of line 1/],
        ['a method other than POST', { ...requestLine(2), method: 'GET' }, /Line 2: method/],
        ['a url that is no batch endpoint', { ...requestLine(2), url: '/v1/images/generations' }, /Line 2: url/],
        [
          'a body without the field its endpoint requires',
          { ...requestLine(2), url: '/v1/embeddings' },
          /Line 2: body\.input is required for \/v1\/embeddings/,
        ],
        ['a body without model', { ...requestLine(2), body: { messages: [] } }, /Line 2: body\.model/],
      ])('accepts a file with %s and reports it only when a batch is created from it', async (_name, second, reported) => {
        const tenant = await gw.newTenant();
        const content = jsonl([requestLine(1), second, requestLine(3)]);

        const file = await sdkUpload(tenant, content);
        expect(file).toMatchObject({ bytes: Buffer.byteLength(content), status: 'processed', purpose: 'batch' });
        expect(uncounted(await tenant.openai.files.retrieve(file.id))).toEqual(uncounted(file));

        const refusal = await tenant.openai.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }).then(
          () => null,
          (err: unknown) => err as APIError,
        );
        expect(refusal).toBeInstanceOf(OpenAI.APIError);
        expect({ status: refusal!.status, code: refusal!.code, message: refusal!.message }).toEqual({
          status: 400,
          code: 'batch_invalid_jsonl',
          message: expect.stringMatching(reported),
        });
      });
    });

    describe('refused uploads leave nothing behind', () => {
      const good = requestLine(1);

      it('refuses a request without a file part with missing_file', async () => {
        const tenant = await gw.newTenant();
        await expectUploadRefused(gw, tenant, { purpose: 'batch' }, { status: 400, code: 'missing_file', param: 'file' });
      });

      it('refuses a JSON body instead of multipart with missing_file', async () => {
        const tenant = await gw.newTenant();
        for (const prefix of PREFIXES) {
          const res = await send(gw, tenant.apiKey, 'POST', `${prefix}/files`, JSON.stringify({ purpose: 'batch', file: jsonl([good]) }));
          expectError(res, prefix, { status: 400, code: 'missing_file', param: 'file' });
        }
        await expect(listIds(gw, tenant)).resolves.toEqual([]);
      });

      it('refuses a file sent under another field name with a 400', async () => {
        const tenant = await gw.newTenant();
        const listed = await listIds(gw, tenant);
        const onDisk = storedNames(gw);
        for (const prefix of PREFIXES) {
          const res = await upload(gw, tenant.apiKey, prefix, { purpose: 'batch', file: jsonl([good]), fileField: 'document' });
          expect({ prefix, status: res.status }).toEqual({ prefix, status: 400 });
          expect(prefix === '/v1' ? res.body.error.code : res.body.code).toEqual(expect.any(String));
          expect(newNames(gw, onDisk)).toEqual([]);
        }
        await expect(listIds(gw, tenant)).resolves.toEqual(listed);
      });

      it('refuses two file parts with a 400, removing the one already stored', async () => {
        const tenant = await gw.newTenant();
        const listed = await listIds(gw, tenant);
        const onDisk = storedNames(gw);
        for (const prefix of PREFIXES) {
          const form = uploadForm({ purpose: 'batch', file: requestFile(300) });
          form.append('file', new Blob([jsonl([good])]), 'second.jsonl');
          const res = await send(gw, tenant.apiKey, 'POST', `${prefix}/files`, form);
          expect({ prefix, status: res.status }).toEqual({ prefix, status: 400 });
          expect(prefix === '/v1' ? res.body.error.code : res.body.code).toEqual(expect.any(String));
          expect({ prefix, leftBehind: newNames(gw, onDisk) }).toEqual({ prefix, leftBehind: [] });
        }
        await expect(listIds(gw, tenant)).resolves.toEqual(listed);
      });

      it('cleans up an upload the client abandons half way', async () => {
        const tenant = await gw.newTenant();
        const onDisk = storedNames(gw);
        const boundary = `----probe${Date.now()}`;
        const head =
          `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="abandoned.jsonl"\r\nContent-Type: application/jsonl\r\n\r\n`;
        let push!: (text: string) => void;
        const body = new ReadableStream<Uint8Array>({ start: (c) => void (push = (text) => c.enqueue(Buffer.from(text))) });
        const aborter = new AbortController();
        const request = fetch(`${gw.url}/v1/files`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
          body,
          signal: aborter.signal,
          duplex: 'half',
        } as RequestInit).then(
          () => 'answered',
          (err: Error) => err.name,
        );
        push(head + requestFile(500));

        // The upload is under way once its pieces appear in storage; then the client goes away.
        await waitFor(
          async () => newNames(gw, onDisk),
          (names) => names.length > 0,
          10_000,
          10,
        );
        aborter.abort();
        await expect(request).resolves.toBe('AbortError');
        await expect(
          waitFor(
            async () => newNames(gw, onDisk),
            (names) => names.length === 0,
            5_000,
            20,
          ),
        ).resolves.toEqual([]);
        await expect(listIds(gw, tenant)).resolves.toEqual([]);
      });

      it.each([
        ['missing', undefined],
        ['fine-tune', 'fine-tune'],
        ['batch_output (only the gateway writes those)', 'batch_output'],
        ['Batch (case matters)', 'Batch'],
      ])('refuses purpose %s with invalid_purpose', async (_name, purpose) => {
        const tenant = await gw.newTenant();
        await expectUploadRefused(gw, tenant, { purpose, file: jsonl([good]) }, { status: 400, code: 'invalid_purpose', param: 'purpose' });
      });

      it('refuses an invalid purpose sent after the file, once the file has been streamed to storage', async () => {
        const tenant = await gw.newTenant();
        await expectUploadRefused(
          gw,
          tenant,
          { purpose: 'assistants', file: requestFile(200), fileFirst: true },
          { status: 400, code: 'invalid_purpose', param: 'purpose' },
        );
      });

      it.each([
        ['an empty file', ''],
        ['a file of one blank line', '\n'],
        ['a file of CRLF blank lines only', '\r\n\r\n'],
      ])('refuses %s with batch_invalid_jsonl', async (_name, content) => {
        const tenant = await gw.newTenant();
        await expectUploadRefused(gw, tenant, { purpose: 'batch', file: content }, { status: 400, code: 'batch_invalid_jsonl', param: 'file' });
      });

      it.each([
        ['not JSON', `{"custom_id": "req-2", "method": `],
        ['a JSON array', '[1, 2, 3]'],
        ['a JSON string', '"a string"'],
        ['a JSON number', '42'],
        ['JSON null', 'null'],
      ])('refuses a line that is %s with batch_invalid_jsonl naming the line', async (_name, bad) => {
        const tenant = await gw.newTenant();
        const content = jsonl([good, bad, requestLine(3)]);
        await expectUploadRefused(
          gw,
          tenant,
          { purpose: 'batch', file: content },
          { status: 400, code: 'batch_invalid_jsonl', param: 'file', message: /\bLine 2\b/ },
        );
      });

      it('refuses a bad line far into a large file, naming its line, with nothing left by the time it answers', async () => {
        const tenant = await gw.newTenant();
        // About 150 kB: the bad line arrives several chunks in, after earlier ones were written to storage.
        const lines: unknown[] = Array.from({ length: 1000 }, (_, i) => requestLine(i));
        lines[700] = '{"custom_id": oops}';
        await expectUploadRefused(
          gw,
          tenant,
          { purpose: 'batch', file: jsonl(lines) },
          { status: 400, code: 'batch_invalid_jsonl', param: 'file', message: /\bLine 701\b/ },
        );
      });

      it('refuses a blank line in the middle with batch_invalid_jsonl naming the blank line', async () => {
        const tenant = await gw.newTenant();
        const content = jsonl([good, '', requestLine(3)]);
        await expectUploadRefused(
          gw,
          tenant,
          { purpose: 'batch', file: content },
          { status: 400, code: 'batch_invalid_jsonl', param: 'file', message: /\bLine 2\b/ },
        );
      });

      it('refuses invalid UTF-8 with batch_invalid_jsonl naming the line', async () => {
        const tenant = await gw.newTenant();
        const bad = Buffer.concat([Buffer.from('{"custom_id":"req-2","note":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
        const content = Buffer.concat([Buffer.from(jsonl([good])), bad, Buffer.from('\n' + jsonl([requestLine(3)]))]);
        await expectUploadRefused(
          gw,
          tenant,
          { purpose: 'batch', file: content },
          { status: 400, code: 'batch_invalid_jsonl', param: 'file', message: /\bLine 2\b/ },
        );
      });

      it.each([
        ['no Authorization header', null],
        ['an unknown key', 'sk-unknown-key-0123456789abcdef'],
      ])('refuses an upload with %s with 401 invalid_api_key', async (_name, key) => {
        const tenant = await gw.newTenant();
        const onDisk = storedNames(gw);
        for (const prefix of PREFIXES) {
          const res = await upload(gw, key, prefix, { purpose: 'batch', file: jsonl([good]) });
          expectError(res, prefix, { status: 401, code: 'invalid_api_key', type: 'authentication_error' });
          expect(newNames(gw, onDisk)).toEqual([]);
        }
        await expect(listIds(gw, tenant)).resolves.toEqual([]);
      });
    });

    describe('reading, listing and deleting', () => {
      it('pages newest first with has_more, first_id and last_id, under both prefixes', async () => {
        const tenant = await gw.newTenant();
        const [u1, u2, u3, u4, u5] = await uploadMany(tenant, 5);

        for (const prefix of PREFIXES) {
          const page = (query: string) => send(gw, tenant.apiKey, 'GET', `${prefix}/files${query}`).then((r) => unwrap(r, prefix));
          const first = await page('?limit=2');
          expect(first).toEqual({
            object: 'list',
            data: [expect.objectContaining({ id: u5 }), expect.objectContaining({ id: u4 })],
            first_id: u5,
            last_id: u4,
            has_more: true,
          });
          const second = await page(`?limit=2&after=${u4}`);
          expect(second).toMatchObject({ first_id: u3, last_id: u2, has_more: true });
          expect(second.data.map((f: { id: string }) => f.id)).toEqual([u3, u2]);
          const last = await page(`?limit=2&after=${u2}`);
          expect(last).toEqual({ object: 'list', data: [expect.objectContaining({ id: u1 })], first_id: u1, last_id: u1, has_more: false });
          const exact = await page('?limit=5');
          expect(exact).toMatchObject({ first_id: u5, last_id: u1, has_more: false });
          expect(exact.data).toHaveLength(5);
          const past = await page(`?after=${u1}`);
          expect(past).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
        }
      });

      it('pages oldest first with order=asc', async () => {
        const tenant = await gw.newTenant();
        const [u1, u2, u3, u4, u5] = await uploadMany(tenant, 5);

        const first = unwrap(await send(gw, tenant.apiKey, 'GET', '/v1/files?order=asc&limit=2'), '/v1');
        expect(first).toMatchObject({ first_id: u1, last_id: u2, has_more: true });
        expect(first.data.map((f: { id: string }) => f.id)).toEqual([u1, u2]);
        const rest = unwrap(await send(gw, tenant.apiKey, 'GET', `/v1/files?order=asc&limit=10&after=${u2}`), '/v1');
        expect(rest).toMatchObject({ first_id: u3, last_id: u5, has_more: false });
        expect(rest.data.map((f: { id: string }) => f.id)).toEqual([u3, u4, u5]);
        await expect(listIds(gw, tenant, '?order=desc')).resolves.toEqual([u5, u4, u3, u2, u1]);
      });

      it('lists the full file objects, and the SDK auto-paginates through every page', async () => {
        const tenant = await gw.newTenant();
        const ids = await uploadMany(tenant, 5);
        const objects = await Promise.all(ids.map((id) => tenant.openai.files.retrieve(id)));

        const firstPage = await tenant.openai.files.list({ limit: 2 });
        expect(firstPage.data.map(uncounted)).toEqual([objects[4], objects[3]].map(uncounted));
        expect(firstPage.has_more).toBe(true);
        const seen: OpenAI.FileObject[] = [];
        for await (const file of tenant.openai.files.list({ limit: 2 })) seen.push(file);
        expect(seen.map(uncounted)).toEqual([...objects].reverse().map(uncounted));
        const ascending: string[] = [];
        for await (const file of tenant.openai.files.list({ limit: 2, order: 'asc' })) ascending.push(file.id);
        expect(ascending).toEqual(ids);
        await expect(tenant.openai.files.list({ purpose: 'batch' }).then((p) => p.data.map((f) => f.id))).resolves.toEqual([...ids].reverse());
      });

      it('filters by purpose: uploads are batch, what a batch writes is batch_output', async () => {
        const tenant = await gw.newTenant();
        const input = await sdkUpload(tenant, requestFile(2));
        const created = await tenant.openai.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
        const batch = await waitFor(
          () => tenant.openai.batches.retrieve(created.id),
          (b) => TERMINAL.includes(b.status),
        );
        expect(batch).toMatchObject({ status: 'completed', output_file_id: expect.stringMatching(/^file-/) });
        const outputId = batch.output_file_id!;

        await expect(tenant.openai.files.retrieve(outputId)).resolves.toMatchObject({
          id: outputId,
          object: 'file',
          purpose: 'batch_output',
          status: 'processed',
        });
        for (const prefix of PREFIXES) {
          const ids = async (query: string) =>
            unwrap(await send(gw, tenant.apiKey, 'GET', `${prefix}/files${query}`), prefix).data.map((f: { id: string }) => f.id);
          await expect(ids('?purpose=batch')).resolves.toEqual([input.id]);
          await expect(ids('?purpose=batch_output')).resolves.toEqual([outputId]);
          await expect(ids('')).resolves.toEqual([outputId, input.id]);
        }
      });

      it('deletes a file: the deleted object, then 404 everywhere, gone from the list and from disk', async () => {
        const tenant = await gw.newTenant();
        const keep = await sdkUpload(tenant, requestFile(1));
        const file = await sdkUpload(tenant, requestFile(2));
        expect(storedNames(gw)).toEqual(expect.arrayContaining([`${file.id}.jsonl`, `${file.id}.index`]));

        await expect(tenant.openai.files.delete(file.id)).resolves.toEqual({ id: file.id, object: 'file', deleted: true });

        const notFound = await tenant.openai.files.retrieve(file.id).then(
          () => null,
          (err: unknown) => err,
        );
        expect(notFound).toBeInstanceOf(OpenAI.NotFoundError);
        expect((notFound as InstanceType<typeof OpenAI.NotFoundError>).status).toBe(404);
        await expectSdkError(tenant.openai.files.content(file.id), 404, 'not_found');
        await expectSdkError(tenant.openai.files.delete(file.id), 404, 'not_found');
        for (const prefix of PREFIXES) {
          expectError(await send(gw, tenant.apiKey, 'GET', `${prefix}/files/${file.id}`), prefix, { status: 404, code: 'not_found' });
        }
        await expect(listIds(gw, tenant)).resolves.toEqual([keep.id]);
        const names = storedNames(gw);
        expect(names.filter((n) => n.startsWith(file.id))).toEqual([]);
        expect(names).toEqual(expect.arrayContaining([`${keep.id}.jsonl`, `${keep.id}.index`]));
        expect(uncounted(await tenant.openai.files.retrieve(keep.id))).toEqual(uncounted(keep));
      });

      it('deletes under /api/v1 with the deleted object in the envelope', async () => {
        const tenant = await gw.newTenant();
        const file = await sdkUpload(tenant, requestFile(1));

        const deleted = unwrap(await send(gw, tenant.apiKey, 'DELETE', `/api/v1/files/${file.id}`), '/api/v1');
        expect(deleted).toEqual({ id: file.id, object: 'file', deleted: true });
        expectError(await send(gw, tenant.apiKey, 'DELETE', `/api/v1/files/${file.id}`), '/api/v1', { status: 404, code: 'not_found' });
        expect(existsSync(join(gw.config.dataDir, 'files', `${file.id}.jsonl`))).toBe(false);
        await expect(listIds(gw, tenant)).resolves.toEqual([]);
      });

      it('answers 404 not_found for an unknown file id under both prefixes', async () => {
        const tenant = await gw.newTenant();
        for (const prefix of PREFIXES) {
          for (const [method, path] of [
            ['GET', ''],
            ['GET', '/content'],
            ['DELETE', ''],
          ]) {
            const res = await send(gw, tenant.apiKey, method, `${prefix}/files/file-doesnotexist${path}`);
            expectError(res, prefix, { status: 404, code: 'not_found', message: /file-doesnotexist/ });
          }
        }
      });
    });

    describe('tenant isolation', () => {
      it("answers 404 to another tenant's file id everywhere and leaves the file alone", async () => {
        const owner = await gw.newTenant('owner');
        const other = await gw.newTenant('other');
        const content = requestFile(2);
        const file = await sdkUpload(owner, content);
        const own = await sdkUpload(other, requestFile(1));

        for (const prefix of PREFIXES) {
          for (const [method, path] of [
            ['GET', ''],
            ['GET', '/content'],
            ['DELETE', ''],
          ]) {
            const res = await send(gw, other.apiKey, method, `${prefix}/files/${file.id}${path}`);
            expectError(res, prefix, { status: 404, code: 'not_found' });
            expect(res.bytes.toString('utf8')).not.toContain('custom_id');
          }
          expectError(await send(gw, other.apiKey, 'GET', `${prefix}/files?after=${file.id}`), prefix, { status: 404, code: 'not_found', param: 'after' });
        }
        await expectSdkError(other.openai.files.retrieve(file.id), 404, 'not_found');
        await expectSdkError(other.openai.files.content(file.id), 404, 'not_found');
        await expectSdkError(other.openai.files.delete(file.id), 404, 'not_found');

        await expect(listIds(gw, other)).resolves.toEqual([own.id]);
        await expect(listIds(gw, other, '?purpose=batch')).resolves.toEqual([own.id]);
        await expect(listIds(gw, owner)).resolves.toEqual([file.id]);
        expect(uncounted(await owner.openai.files.retrieve(file.id))).toEqual(uncounted(file));
        const downloaded = Buffer.from(await (await owner.openai.files.content(file.id)).arrayBuffer());
        expect(downloaded.toString('utf8')).toEqual(content);
      });
    });

    describe('authentication, routes and query validation', () => {
      it.each([
        ['no Authorization header', null],
        ['an unknown key', 'sk-unknown-key-0123456789abcdef'],
      ])('answers 401 invalid_api_key to %s on every files route', async (_name, key) => {
        const tenant = await gw.newTenant();
        const file = await sdkUpload(tenant, requestFile(1));
        for (const prefix of PREFIXES) {
          for (const [method, path] of [
            ['GET', ''],
            ['GET', `/${file.id}`],
            ['GET', `/${file.id}/content`],
            ['DELETE', `/${file.id}`],
          ]) {
            const res = await send(gw, key, method, `${prefix}/files${path}`);
            expectError(res, prefix, { status: 401, code: 'invalid_api_key', type: 'authentication_error', param: null });
          }
        }
        expect(uncounted(await tenant.openai.files.retrieve(file.id))).toEqual(uncounted(file));
      });

      it('makes the SDK throw AuthenticationError for an unknown key', async () => {
        const stranger = new OpenAI({ apiKey: 'sk-unknown-key-0123456789abcdef', baseURL: `${gw.url}/v1`, maxRetries: 0 });
        const error = await stranger.files.list().then(
          () => null,
          (err: unknown) => err,
        );
        expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
        expect(error).toMatchObject({ status: 401, code: 'invalid_api_key', type: 'authentication_error' });
      });

      it('answers 404 not_found to an unknown route in each envelope', async () => {
        const tenant = await gw.newTenant();
        for (const prefix of PREFIXES) {
          const res = await send(gw, tenant.apiKey, 'GET', `${prefix}/no-such-route`);
          expectError(res, prefix, { status: 404, code: 'not_found', message: /no-such-route/ });
        }
        const res = await send(gw, tenant.apiKey, 'PUT', '/api/v1/files');
        expectError(res, '/api/v1', { status: 404, code: 'not_found' });
      });

      it.each([
        ['limit=0', 'limit'],
        ['limit=10001', 'limit'],
        ['limit=two', 'limit'],
        ['order=sideways', 'order'],
        [`purpose=${'p'.repeat(65)}`, 'purpose'],
      ])('refuses the list query %s with invalid_request_error naming the parameter', async (query, param) => {
        const tenant = await gw.newTenant();
        for (const prefix of PREFIXES) {
          const res = await send(gw, tenant.apiKey, 'GET', `${prefix}/files?${query}`);
          expectError(res, prefix, { status: 400, code: 'invalid_request_error', param });
        }
      });
    });
  });

  describe('at configured limits', () => {
    const MAX_FILE_BYTES = 2000;
    const MAX_FILE_LINES = 3;
    const MAX_LINE_BYTES = 1000;
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway({ MAX_FILE_BYTES: String(MAX_FILE_BYTES), MAX_FILE_LINES: String(MAX_FILE_LINES), MAX_LINE_BYTES: String(MAX_LINE_BYTES) });
    });
    afterAll(() => gw?.close());

    it('accepts a file exactly at every limit', async () => {
      const tenant = await gw.newTenant();
      const atLineLimit = jsonl([lineOfBytes(1, MAX_LINE_BYTES)]);
      const atLineLimitCrlf = jsonl([lineOfBytes(1, MAX_LINE_BYTES)], '\r\n');
      const atLineCount = jsonl([lineOfBytes(1, 150), lineOfBytes(2, 150), lineOfBytes(3, 150)]);
      const atFileBytes = jsonl([lineOfBytes(1, 999), lineOfBytes(2, 999)]);
      expect(Buffer.byteLength(atFileBytes)).toBe(MAX_FILE_BYTES);

      for (const content of [atLineLimit, atLineLimitCrlf, atLineCount, atFileBytes]) {
        const file = await sdkUpload(tenant, content);
        expect(file).toMatchObject({ bytes: Buffer.byteLength(content), status: 'processed' });
      }
      await expect(listIds(gw, tenant)).resolves.toHaveLength(4);
    });

    it('refuses a line over MAX_LINE_BYTES with batch_invalid_jsonl naming the line', async () => {
      const tenant = await gw.newTenant();
      const content = jsonl([lineOfBytes(1, 200), lineOfBytes(2, MAX_LINE_BYTES + 1)]);
      await expectUploadRefused(
        gw,
        tenant,
        { purpose: 'batch', file: content },
        { status: 400, code: 'batch_invalid_jsonl', param: 'file', message: /\bLine 2\b/ },
      );
    });

    it('refuses a last line over MAX_LINE_BYTES without a newline after it', async () => {
      const tenant = await gw.newTenant();
      const content = lineOfBytes(1, MAX_LINE_BYTES + 1);
      await expectUploadRefused(
        gw,
        tenant,
        { purpose: 'batch', file: content },
        { status: 400, code: 'batch_invalid_jsonl', param: 'file', message: /\bLine 1\b/ },
      );
    });

    it('refuses more than MAX_FILE_LINES lines with too_many_lines', async () => {
      const tenant = await gw.newTenant();
      const content = jsonl([1, 2, 3, 4].map((i) => lineOfBytes(i, 150)));
      expect(Buffer.byteLength(content)).toBeLessThan(MAX_FILE_BYTES);
      await expectUploadRefused(gw, tenant, { purpose: 'batch', file: content }, { status: 400, code: 'too_many_lines', param: 'file' });
    });

    it('refuses a file over MAX_FILE_BYTES with 413 file_too_large', async () => {
      const tenant = await gw.newTenant();
      const justOver = jsonl([lineOfBytes(1, 999), lineOfBytes(2, 1000)]);
      expect(Buffer.byteLength(justOver)).toBe(MAX_FILE_BYTES + 1);
      await expectUploadRefused(gw, tenant, { purpose: 'batch', file: justOver }, { status: 413, code: 'file_too_large' });
      const wellOver = jsonl([lineOfBytes(1, 900), lineOfBytes(2, 900), lineOfBytes(3, 900)]);
      await expectUploadRefused(gw, tenant, { purpose: 'batch', file: wellOver }, { status: 413, code: 'file_too_large' });
    });

    it('refuses an upload many times over MAX_FILE_BYTES with 413, with nothing left by the time it answers', async () => {
      const tenant = await gw.newTenant();
      const content = requestFile(2000);
      expect(Buffer.byteLength(content)).toBeGreaterThan(100 * MAX_FILE_BYTES);
      await expectUploadRefused(gw, tenant, { purpose: 'batch', file: content }, { status: 413, code: 'file_too_large' });
    });

    it('refuses a file over MAX_FILE_BYTES through the SDK with a 413', async () => {
      const tenant = await gw.newTenant();
      const onDisk = storedNames(gw);
      const content = jsonl([lineOfBytes(1, 900), lineOfBytes(2, 900), lineOfBytes(3, 900)]);
      await expectSdkError(sdkUpload(tenant, content), 413, 'file_too_large');
      expect(newNames(gw, onDisk)).toEqual([]);
      await expect(listIds(gw, tenant)).resolves.toEqual([]);
    });
  });
});
