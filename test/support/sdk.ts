import OpenAI, { toFile } from 'openai';
import type { Tenant } from './gateway';
import { waitFor } from './gateway';
import type { GatewayTarget, RestAnswer, ResultLine } from './rest-client';
import { rest, TERMINAL } from './rest-client';

/** Every REST operation is served under both prefixes; the specs run their checks under each. */
export const PREFIXES = ['/v1', '/api/v1'] as const;
export type Prefix = (typeof PREFIXES)[number];

export { TERMINAL };

/** A 200 answer's object, out of its prefix's envelope (checked whole under /api/v1). */
export function unwrap(res: RestAnswer, prefix: Prefix): any {
  expect({ prefix, status: res.status }).toEqual({ prefix, status: 200 });
  if (prefix === '/v1') {
    expect(res.body).not.toHaveProperty('success');
    return res.body;
  }
  expect(res.body).toEqual({ success: true, code: '200', message: 'successful', data: expect.anything() });
  return res.body.data;
}

/**
 * The same refusal under both prefixes: the same status, each in its envelope (OpenAI's error object
 * under /v1, with `code` if given), with the same code and message; returns the /v1 error object.
 */
export async function expectRefused(
  target: GatewayTarget,
  key: string,
  method: string,
  path: string,
  body: unknown,
  status = 400,
  code?: string,
): Promise<any> {
  let v1: any;
  for (const prefix of PREFIXES) {
    const res = await rest(target, key, method, `${prefix}${path}`, body);
    expect({ prefix, path, status: res.status }).toEqual({ prefix, path, status });
    if (prefix === '/v1') {
      expect(Object.keys(res.body)).toEqual(['error']);
      expect(Object.keys(res.body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      expect(res.body.error).toMatchObject({ message: expect.any(String), type: expect.any(String), ...(code === undefined ? {} : { code }) });
      v1 = res.body.error;
    } else {
      expect(res.body).toEqual({ success: false, code: v1.code, message: v1.message, data: null });
    }
  }
  return v1;
}

/** Uploads `content` with the official SDK as a batch input file. */
export async function sdkUpload(
  tenant: Tenant,
  content: string | Buffer,
  opts: { filename?: string; expiresAfter?: OpenAI.FileCreateParams.ExpiresAfter } = {},
): Promise<OpenAI.FileObject> {
  return tenant.openai.files.create({
    file: await toFile(Buffer.from(content), opts.filename ?? 'requests.jsonl'),
    purpose: 'batch',
    ...(opts.expiresAfter ? { expires_after: opts.expiresAfter } : {}),
  });
}

/** Uploads `content` with the SDK and creates a batch of it: /v1/chat/completions in a 24 h window unless `params` say otherwise. */
export async function sdkBatch(
  tenant: Tenant,
  content: string | Buffer,
  params: Partial<OpenAI.BatchCreateParams> = {},
  filename?: string,
): Promise<OpenAI.Batch> {
  const file = await sdkUpload(tenant, content, { filename });
  return tenant.openai.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', ...params });
}

/** Polls the batch with the SDK until `done` accepts it. */
export function untilBatch(tenant: Tenant, id: string, done: (b: OpenAI.Batch) => boolean, timeoutMs = 60_000): Promise<OpenAI.Batch> {
  return waitFor(() => tenant.openai.batches.retrieve(id), done, timeoutMs, 50);
}

/** Polls the batch with the SDK until it has ended. */
export function untilFinished(tenant: Tenant, id: string, timeoutMs = 60_000): Promise<OpenAI.Batch> {
  return untilBatch(tenant, id, (b) => TERMINAL.includes(b.status), timeoutMs);
}

/** The parsed lines of an output or error file (none when there is no file); the file ends with a line break. */
export async function fileLines(tenant: Tenant, fileId: string | null | undefined): Promise<ResultLine[]> {
  if (!fileId) return [];
  const text = await (await tenant.openai.files.content(fileId)).text();
  expect(text.endsWith('\n')).toBe(true);
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ResultLine);
}

/** The parsed lines of a batch's output and error files. */
export async function results(
  tenant: Tenant,
  batch: { output_file_id?: string | null; error_file_id?: string | null },
): Promise<{ output: ResultLine[]; errors: ResultLine[] }> {
  return { output: await fileLines(tenant, batch.output_file_id), errors: await fileLines(tenant, batch.error_file_id) };
}

/** Every custom_id of the input exactly once across both files, each file in input order, line ids unique. */
export function expectEveryLineOnce(customIds: string[], output: ResultLine[], errors: ResultLine[]): void {
  const all = [...output, ...errors];
  expect(all.map((l) => l.custom_id).sort()).toEqual([...customIds].sort());
  expect(new Set(all.map((l) => l.custom_id)).size).toBe(customIds.length);
  const position = new Map(customIds.map((id, i) => [id, i]));
  for (const file of [output, errors]) {
    const order = file.map((l) => position.get(l.custom_id)!);
    expect(order).toEqual([...order].sort((a, b) => a - b));
  }
  for (const line of all) expect(line.id).toMatch(/^batch_req_/);
  expect(new Set(all.map((l) => l.id)).size).toBe(all.length);
}
