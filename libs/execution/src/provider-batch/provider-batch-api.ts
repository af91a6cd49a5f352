import { openAsBlob } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, Dispatcher, FormData, request } from 'undici';
import { parseRetryAfter } from '../upstream/openai.upstream';
import { describeNetworkError, plainText } from '../upstream/outcome';

/** A provider's batch object, as far as the gateway reads it (OpenAI's Batch object). */
export interface RemoteBatch {
  id: string;
  status: string;
  input_file_id?: string | null;
  output_file_id?: string | null;
  error_file_id?: string | null;
  created_at?: number;
  request_counts?: { total?: number; completed?: number; failed?: number } | null;
  metadata?: Record<string, string> | null;
  errors?: { data?: { code?: string | null; message?: string | null; line?: number | null }[] } | null;
}

/** The provider's statuses after which a batch changes no more. */
export const REMOTE_TERMINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);

/** The provider answered and refused (a 4xx other than 408 and 429): trying again will not help. */
export class ProviderRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
  ) {
    super(message);
  }
}

/** The provider could not be reached or kept failing (429, 5xx, timeouts) through every attempt. */
export class ProviderUnavailable extends Error {}

export interface ProviderBatchApiOptions {
  baseUrl: string;
  apiKey: string | undefined;
  /** Headers of one call; a pause in a body; and the whole of a JSON call. */
  timeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  /** Largest JSON answer read (lists, batch objects). */
  maxResponseBytes: number;
}

const MAX_BACKOFF_MS = 30_000;
const MAX_RETRY_AFTER_MS = 120_000;
/** An upload is sent whole before its answer comes; its headers may take this long after the call starts. */
const UPLOAD_HEADERS_TIMEOUT_MS = 10 * 60_000;

/**
 * A provider's OpenAI-compatible Files + Batches API under its base_url. Every call is retried with
 * exponential backoff and full jitter (honouring Retry-After) on 408, 429, 5xx, timeouts and broken
 * connections; any other 4xx is a ProviderRefusal, and trouble through every attempt a
 * ProviderUnavailable. Uploads stream from a file on disk and downloads stream to the caller: nothing
 * here holds a whole batch file.
 */
export class ProviderBatchApi {
  private readonly agent = new Agent({ connections: 8, keepAliveTimeout: 30_000 });
  private readonly base: string;
  private readonly auth: Record<string, string>;

  constructor(private readonly options: ProviderBatchApiOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.auth = options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {};
  }

  /** `POST /files` (multipart, purpose=batch) from a file on disk, read again for each attempt. */
  async uploadFile(path: string, filename: string, signal: AbortSignal): Promise<{ id: string }> {
    return this.json('POST', '/files', signal, async () => {
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', await openAsBlob(path, { type: 'application/jsonl' }), filename);
      return { body: form, headersTimeout: UPLOAD_HEADERS_TIMEOUT_MS };
    });
  }

  /**
   * `POST /batches`, tried once: after trouble the provider may have created the batch all the same,
   * so the caller looks it up (by its metadata) before creating again.
   */
  createBatch(
    input: { input_file_id: string; endpoint: string; completion_window: string; metadata: Record<string, string> },
    signal: AbortSignal,
  ): Promise<RemoteBatch> {
    return this.json('POST', '/batches', signal, async () => ({ body: JSON.stringify(input), headers: { 'content-type': 'application/json' } }), 1);
  }

  getBatch(id: string, signal: AbortSignal): Promise<RemoteBatch> {
    return this.json('GET', `/batches/${encodeURIComponent(id)}`, signal);
  }

  listBatches(after: string | null, signal: AbortSignal): Promise<{ data: RemoteBatch[]; has_more?: boolean; last_id?: string | null }> {
    const query = new URLSearchParams({ limit: '100' });
    if (after) query.set('after', after);
    return this.json('GET', `/batches?${query}`, signal);
  }

  cancelBatch(id: string, signal: AbortSignal): Promise<RemoteBatch> {
    return this.json('POST', `/batches/${encodeURIComponent(id)}/cancel`, signal);
  }

  /** `DELETE /files/{id}`; a file already gone counts as deleted. */
  async deleteFile(id: string, signal: AbortSignal): Promise<void> {
    try {
      await this.json('DELETE', `/files/${encodeURIComponent(id)}`, signal);
    } catch (err) {
      if (!(err instanceof ProviderRefusal && err.status === 404)) throw err;
    }
  }

  /** `GET /files/{id}/content` as a stream (retried until the answer starts; a break mid-stream is the caller's to retry). */
  async fileContent(id: string, signal: AbortSignal): Promise<Readable> {
    return this.attempts<Readable>(`GET /files/${id}/content`, signal, this.options.maxAttempts, async () => {
      const res = await this.send('GET', `/files/${encodeURIComponent(id)}/content`, signal, {});
      if (res.statusCode >= 200 && res.statusCode < 300) return { done: res.body };
      return { failed: await this.failure(res) };
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private json<T>(
    method: Dispatcher.HttpMethod,
    path: string,
    signal: AbortSignal,
    body?: () => Promise<{ body: string | FormData; headers?: Record<string, string>; headersTimeout?: number }>,
    maxAttempts = this.options.maxAttempts,
  ): Promise<T> {
    return this.attempts<T>(`${method} ${path.split('?')[0]}`, signal, maxAttempts, async () => {
      const res = await this.send(method, path, signal, body ? await body() : {});
      if (res.statusCode < 200 || res.statusCode >= 300) return { failed: await this.failure(res) };
      const text = await readLimited(res.body, this.options.maxResponseBytes);
      try {
        return { done: JSON.parse(text) as T };
      } catch {
        return { failed: new ProviderUnavailable(`${method} ${path} answered ${res.statusCode} with a body that is not JSON`) };
      }
    });
  }

  private send(
    method: Dispatcher.HttpMethod,
    path: string,
    signal: AbortSignal,
    extra: { body?: string | FormData; headers?: Record<string, string>; headersTimeout?: number },
  ): Promise<Dispatcher.ResponseData> {
    return request(`${this.base}${path}`, {
      method,
      headers: { accept: 'application/json', ...this.auth, ...extra.headers },
      body: extra.body,
      dispatcher: this.agent,
      signal,
      headersTimeout: extra.headersTimeout ?? this.options.timeoutMs,
      bodyTimeout: this.options.timeoutMs,
    });
  }

  /** A non-2xx answer as the error it is: a refusal, or trouble worth another attempt (with its Retry-After). */
  private async failure(res: Dispatcher.ResponseData): Promise<ProviderRefusal | Trouble> {
    const text = await readLimited(res.body, 64 * 1024).catch(() => '');
    let message = text;
    let code: string | null = null;
    try {
      const parsed = JSON.parse(text) as { error?: { message?: unknown; code?: unknown } };
      if (typeof parsed.error?.message === 'string') message = parsed.error.message;
      if (typeof parsed.error?.code === 'string') code = parsed.error.code;
    } catch {
      // Not JSON: the text is the message.
    }
    message = plainText(message || `HTTP ${res.statusCode}`, 500);
    const status = res.statusCode;
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfter = res.headers['retry-after'];
      return new Trouble(`HTTP ${status}: ${message}`, parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : (retryAfter ?? null)));
    }
    return new ProviderRefusal(status, message, code);
  }

  private async attempts<T>(what: string, signal: AbortSignal, maxAttempts: number, attempt: () => Promise<{ done: T } | { failed: Error }>): Promise<T> {
    const { retryBaseMs } = this.options;
    let last = '';
    for (let n = 1; n <= maxAttempts; n++) {
      let outcome: { done: T } | { failed: Error };
      try {
        outcome = await attempt();
      } catch (err) {
        if (signal.aborted) throw err;
        outcome = { failed: new Trouble(describeNetworkError(err as Error).message, null) };
      }
      if ('done' in outcome) return outcome.done;
      if (!(outcome.failed instanceof Trouble)) throw outcome.failed;
      last = outcome.failed.message;
      if (n === maxAttempts) break;
      const backoff = Math.min(MAX_BACKOFF_MS, retryBaseMs * 2 ** (n - 1)) * Math.random();
      const retryAfter = outcome.failed.retryAfterMs;
      await sleep(retryAfter != null ? Math.min(MAX_RETRY_AFTER_MS, retryAfter) : backoff, undefined, { signal });
    }
    throw new ProviderUnavailable(maxAttempts === 1 ? `${what} failed: ${last}` : `${what} failed ${maxAttempts} times; last: ${last}`);
  }
}

/** A failed attempt worth another one. */
class Trouble extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null,
  ) {
    super(message);
  }
}

async function readLimited(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      throw new ProviderUnavailable(`The provider's answer is larger than ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}
