import type { BatchObject } from '@app/batches';

/**
 * The public REST API as a plain HTTP client would use it, for gateways in this process (TestGateway)
 * and in child processes (ChildGateway) alike: `rest()` for any request whose status and body the test
 * looks at, `restClient()` for the typed calls of a batch's life (upload, create, read, cancel, results).
 */

/** Where a gateway answers: its base URL, or anything with a `url` (read at each call, so a restarted child's new port is followed). */
export type GatewayTarget = string | { url: string };

function baseUrl(target: GatewayTarget): string {
  return typeof target === 'string' ? target : target.url;
}

/** The statuses a batch ends in. */
export const TERMINAL = ['completed', 'failed', 'expired', 'cancelled'];

/** An answer: its status and its body, parsed as JSON, or the text when it is not JSON. */
export interface RestAnswer {
  status: number;
  body: any;
}

async function answer(res: Response): Promise<RestAnswer> {
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text }; // file content is JSONL, kept as text
  }
}

/** One request with `key` as the bearer key and `body` (if any) sent as JSON; never throws on a status. */
export async function rest(target: GatewayTarget, key: string, method: string, path: string, body?: unknown): Promise<RestAnswer> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return answer(await fetch(`${baseUrl(target)}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
}

/** `content` uploaded under `prefix` as a batch input file, multipart as curl sends it; never throws on a status. */
export async function restUpload(target: GatewayTarget, key: string, content: string, prefix = '/v1'): Promise<RestAnswer> {
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', new Blob([content], { type: 'application/jsonl' }), 'requests.jsonl');
  return answer(await fetch(`${baseUrl(target)}${prefix}/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form }));
}

/** The batch object as /v1 answers it (OpenAI's, plus `callback_url`): the gateway's own declaration of it. */
export type { BatchObject };

/** One line of a batch's output or error file. */
export interface ResultLine {
  id: string;
  custom_id: string;
  /** The upstream's answer; on success its body is the chat completion. */
  response: { status_code: number; request_id: string; body: any } | null;
  error: { code: string; message: string } | null;
}

/** Optional fields of a batch create besides the input file, endpoint and window. */
export interface BatchExtras {
  callback_url?: string;
  metadata?: Record<string, string>;
}

export interface RestClient {
  /** Uploads `content` as a batch input file (multipart, as curl sends it); returns the file id. */
  upload(content: string): Promise<string>;
  /** Creates a /v1/chat/completions batch with a 24 h window. */
  createBatch(inputFileId: string, extras?: BatchExtras): Promise<BatchObject>;
  batch(id: string): Promise<BatchObject>;
  cancel(id: string): Promise<BatchObject>;
  /** The parsed lines of an output or error file; none when there is no file. */
  lines(fileId: string | null): Promise<ResultLine[]>;
}

/** Typed /v1 calls with `apiKey`; each throws with the status and body unless the answer is 2xx. */
export function restClient(target: GatewayTarget, apiKey: string): RestClient {
  const headers = { authorization: `Bearer ${apiKey}` };
  const json = async <T>(res: Response): Promise<T> => {
    const text = await res.text();
    if (!res.ok) throw new Error(`${res.url} answered ${res.status}: ${text}`);
    return JSON.parse(text) as T;
  };
  return {
    async upload(content) {
      const res = await restUpload(target, apiKey, content);
      if (res.status !== 200) throw new Error(`upload answered ${res.status}: ${JSON.stringify(res.body)}`);
      return (res.body as { id: string }).id;
    },
    async createBatch(inputFileId, extras = {}) {
      const body = JSON.stringify({ input_file_id: inputFileId, endpoint: '/v1/chat/completions', completion_window: '24h', ...extras });
      return json(await fetch(`${baseUrl(target)}/v1/batches`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body }));
    },
    async batch(id) {
      return json(await fetch(`${baseUrl(target)}/v1/batches/${id}`, { headers }));
    },
    async cancel(id) {
      return json(await fetch(`${baseUrl(target)}/v1/batches/${id}/cancel`, { method: 'POST', headers }));
    },
    async lines(fileId) {
      if (!fileId) return [];
      const res = await fetch(`${baseUrl(target)}/v1/files/${fileId}/content`, { headers });
      if (!res.ok) throw new Error(`content of ${fileId} answered ${res.status}: ${await res.text()}`);
      return (await res.text())
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as ResultLine);
    },
  };
}
