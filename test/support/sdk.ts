import OpenAI, { toFile } from 'openai';
import type { Tenant } from './gateway';
import { waitFor } from './gateway';
import type { RestAnswer, ResultLine } from './rest-client';

/** Every REST operation is served under both prefixes; the specs run their checks under each. */
export const PREFIXES = ['/v1', '/api/v1'] as const;
export type Prefix = (typeof PREFIXES)[number];

/** The statuses a batch ends in. */
export const TERMINAL = ['completed', 'failed', 'expired', 'cancelled'];

/** A 200 answer's object, out of its prefix's envelope (checked whole under /api/v1). */
export function unwrap(res: RestAnswer, prefix: Prefix): any {
  expect({ prefix, status: res.status }).toEqual({ prefix, status: 200 });
  if (prefix === '/v1') return res.body;
  expect(res.body).toEqual({ success: true, code: '200', message: 'successful', data: expect.anything() });
  return res.body.data;
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

/** Polls the batch with the SDK until it has ended. */
export function untilFinished(tenant: Tenant, id: string, timeoutMs = 60_000): Promise<OpenAI.Batch> {
  return waitFor(
    () => tenant.openai.batches.retrieve(id),
    (b) => TERMINAL.includes(b.status),
    timeoutMs,
    50,
  );
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
