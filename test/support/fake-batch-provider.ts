import { randomBytes } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { listenLocal, readBody } from './local-server';

/**
 * A real provider with OpenAI's Files and Batches API on 127.0.0.1 (base path /v1), everything in
 * memory, for the provider Batch API executor. A batch runs on timers: `validating`, then
 * `in_progress` one line every `knobs.lineDelayMs`, then `finalizing` and `completed` with its output
 * and error files. Each line is steered by markers in its last message's content:
 *   `#status=400`  the line fails: an error-file line with status_code 400 (counted failed)
 *   `#omit`        the line gets no result line anywhere, yet is counted completed (a misbehaving provider)
 *   `#invalid`     the whole batch fails validation (`failed`, errors naming the line, no files)
 *   `#refuse`      POST /v1/batches refuses the file with 400 token_limit_exceeded and creates nothing
 * Output and error files list their lines in the reverse of the input order, so a client has to map
 * them back by custom_id. `knobs` steer the provider as a whole (failing uploads and polls, held
 * creates, speeds) and may be changed while it runs. It also keeps what multi-worker tests check: the
 * most polls of one batch in flight at once, and how many batches were created for each part.
 */
export interface FakeBatchProviderKnobs {
  /** Time to run one line while a batch is in_progress. */
  lineDelayMs: number;
  /** The next N `GET /v1/batches/{id}` answer 500 (decremented per failed answer). */
  failPolls: number;
  /** The next N `POST /v1/files` answer 503 (decremented per failed answer). */
  failUploads: number;
  /** POST /v1/batches records and starts the batch but does not answer until releaseHeldCreates(). */
  holdCreates: boolean;
  /** Time between `cancelling` and `cancelled`. */
  cancelDelayMs: number;
  /** Time every `GET /v1/batches/{id}` is held before its answer (a slow provider): two overlapping polls of one batch show. */
  pollDelayMs: number;
}

export type FakeBatchStatus = 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';

/** OpenAI's Batch object, plus fields for tests that are never served (`customIds`, `finished`, `polledAt`). */
export interface FakeProviderBatch {
  id: string;
  object: 'batch';
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  status: FakeBatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
  errors: { object: 'list'; data: { code: string; message: string; param: string | null; line: number | null }[] } | null;
  /** Not served: the custom_id of every input line, in input order. */
  customIds: string[];
  /** Not served: the custom_ids of the lines the provider has run so far, in the order it ran them. */
  finished: string[];
  /** Not served: when each `GET /v1/batches/{id}` of this batch arrived (epoch ms). */
  polledAt: number[];
}

export interface FakeBatchFile {
  id: string;
  purpose: string;
  filename: string;
  bytes: Buffer;
  deleted: boolean;
}

export interface FakeBatchProviderCounts {
  /** Files stored (POST /v1/files answered 200), and uploads answered 503 by `failUploads`. */
  uploads: number;
  failedUploads: number;
  /** Batches created, and creates refused for a `#refuse` line. */
  creates: number;
  refusedCreates: number;
  /** Every GET /v1/batches/{id}, and those answered 500 by `failPolls`. */
  polls: number;
  failedPolls: number;
  /** GET /v1/batches (the list). */
  lists: number;
  /** Every POST /v1/batches/{id}/cancel, accepted or not. */
  cancels: number;
  /** Every DELETE /v1/files/{id}. */
  deletes: number;
  /** Every GET /v1/files/{id}/content. */
  contentReads: number;
  /** Every request to any other path (POST /v1/chat/completions included). */
  realtime: number;
}

export interface FakeBatchProvider {
  /** `http://127.0.0.1:PORT/v1`: a routing file's base_url. */
  url: string;
  knobs: FakeBatchProviderKnobs;
  files: Map<string, FakeBatchFile>;
  /** Every batch ever created, in creation order. */
  batches: FakeProviderBatch[];
  counts: FakeBatchProviderCounts;
  /** Authorization headers seen, on every path. */
  authorizations: Set<string>;
  /** body.model of every uploaded request line. */
  models: Set<string>;
  /** POST /v1/batches requests received, held or not, refused or not. */
  createsStarted(): number;
  /** Batches created for each part of our batch `gatewayBatchId`, by metadata.gateway_part: `{ '1': 1, '2': 1 }` when none was created twice. */
  createsPerPart(gatewayBatchId: string): Record<string, number>;
  /** The most `GET /v1/batches/{id}` of one and the same batch that were in flight at once, over all batches (0 before any poll). */
  maxConcurrentPolls(): number;
  /** `GET /v1/batches/{id}` of batch `id` in flight now. */
  pollsInFlight(id: string): number;
  /** Answers every create held by `knobs.holdCreates` (those whose client is gone are dropped). */
  releaseHeldCreates(): void;
  close(): Promise<void>;
}

interface InputLine {
  /** 1-based line number in the input file. */
  line: number;
  customId: string;
  model: string;
  /** The line's endpoint (its `url`). */
  url: string;
  content: string;
  /** Why validation fails this line, if it does. */
  invalid: string | null;
}

interface Run {
  batch: FakeProviderBatch;
  lines: InputLine[];
  /** Result lines so far, in the order the lines ran (the files list them reversed). */
  outputs: string[];
  errors: string[];
  next: number;
  timer: NodeJS.Timeout | null;
}

const TOKEN_LIMIT_MESSAGE = 'Enqueued token limit reached for gpt-fake in organization org-fake. Limit: 90,000 enqueued tokens.';
const ENDED: FakeBatchStatus[] = ['failed', 'completed', 'expired', 'cancelled'];

const now = () => Math.floor(Date.now() / 1000);
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

const ENDPOINTS = ['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/completions', '/v1/moderations'];

/** The last message's content as text (array content parts are kept as their JSON). */
function lastContent(body: unknown): string {
  const messages = (body as { messages?: { content?: unknown }[] } | null)?.messages;
  if (!Array.isArray(messages) || messages.length === 0) return '';
  const content = messages[messages.length - 1]?.content;
  return typeof content === 'string' ? content : JSON.stringify(content ?? '');
}

/** The text a request of the endpoint carries, where its markers are read: the last message, `prompt` or `input`. */
function textOf(url: string, body: unknown): string {
  if (url === '/v1/chat/completions') return lastContent(body);
  const value = (body as Record<string, unknown> | null)?.[url === '/v1/completions' ? 'prompt' : 'input'];
  return typeof value === 'string' ? value : JSON.stringify(value ?? '');
}

/** The provider's answer for a line of the endpoint (chat completions as `chatCompletion`; the others in their own shape, with usage where the endpoint has it). */
function answerFor(url: string, model: string, content: string): unknown {
  const tokens = Math.max(1, Math.ceil(content.length / 4));
  switch (url) {
    case '/v1/embeddings':
      return {
        object: 'list',
        model,
        data: [{ object: 'embedding', index: 0, embedding: [0.6, 0.8] }],
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      };
    case '/v1/responses':
      return {
        id: `resp_${hex(8)}`,
        object: 'response',
        created_at: now(),
        status: 'completed',
        model,
        output: [
          {
            type: 'message',
            id: `msg_${hex(8)}`,
            status: 'completed',
            role: 'assistant',
            content: [{ type: 'output_text', text: `echo: ${content}`, annotations: [] }],
          },
        ],
        usage: {
          input_tokens: tokens,
          input_tokens_details: { cached_tokens: 1 },
          output_tokens: 2,
          output_tokens_details: { reasoning_tokens: 1 },
          total_tokens: tokens + 2,
        },
      };
    case '/v1/completions':
      return {
        id: `cmpl-${hex(8)}`,
        object: 'text_completion',
        created: now(),
        model,
        choices: [{ index: 0, text: `echo: ${content}`, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: tokens, completion_tokens: 2, total_tokens: tokens + 2 },
      };
    case '/v1/moderations':
      return { id: `modr-${hex(8)}`, model, results: [{ flagged: false, categories: { hate: false }, category_scores: { hate: 0 } }] };
    default:
      return chatCompletion(model, content);
  }
}

/** Parses an uploaded JSONL file the way the provider validates it later: a bad line is kept with its reason. */
function parseLines(bytes: Buffer): InputLine[] {
  const out: InputLine[] = [];
  bytes
    .toString('utf8')
    .split('\n')
    .forEach((text, i) => {
      if (text.trim() === '') return;
      const line = i + 1;
      let parsed: { custom_id?: unknown; url?: unknown; body?: { model?: unknown } } | null;
      try {
        parsed = JSON.parse(text);
      } catch {
        out.push({ line, customId: '', model: '', url: '', content: '', invalid: `Line ${line} is not valid JSON.` });
        return;
      }
      const url = typeof parsed?.url === 'string' ? parsed.url : '';
      const content = textOf(url, parsed?.body);
      const customId = typeof parsed?.custom_id === 'string' ? parsed.custom_id : '';
      let invalid: string | null = null;
      if (!customId) invalid = `Line ${line} has no custom_id.`;
      else if (content.includes('#invalid')) invalid = `Line ${line}: the request body is invalid (the line asked for it with #invalid).`;
      out.push({ line, customId, model: typeof parsed?.body?.model === 'string' ? parsed.body.model : '', url, content, invalid });
    });
  return out;
}

/** The chat completion the provider answers for `content`; its usage follows from the content's length. */
function chatCompletion(model: string, content: string) {
  const prompt = Math.max(1, Math.ceil(content.length / 4));
  const completion = Math.max(1, Math.ceil((content.length + 6) / 8));
  return {
    id: `chatcmpl-${hex(8)}`,
    object: 'chat.completion',
    created: now(),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${content}`, refusal: null }, finish_reason: 'stop' }],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
}

/** The served Batch object: the fields OpenAI serves and none of the test-only ones. */
function served(batch: FakeProviderBatch): Omit<FakeProviderBatch, 'customIds' | 'finished' | 'polledAt'> {
  const { customIds: _ids, finished: _finished, polledAt: _polledAt, ...rest } = batch;
  return rest;
}

function notFound(what: string) {
  return { error: { message: `No such ${what}`, type: 'invalid_request_error', code: null } };
}

function invalid(message: string, param: string | null = null, code: string | null = null) {
  return { error: { message, type: 'invalid_request_error', param, code } };
}

export async function startFakeBatchProvider(knobs: Partial<FakeBatchProviderKnobs> = {}): Promise<FakeBatchProvider> {
  const state: FakeBatchProviderKnobs = { lineDelayMs: 5, failPolls: 0, failUploads: 0, holdCreates: false, cancelDelayMs: 50, pollDelayMs: 0, ...knobs };
  const files = new Map<string, FakeBatchFile>();
  const batches: FakeProviderBatch[] = [];
  const runs = new Map<string, Run>();
  const counts: FakeBatchProviderCounts = {
    uploads: 0,
    failedUploads: 0,
    creates: 0,
    refusedCreates: 0,
    polls: 0,
    failedPolls: 0,
    lists: 0,
    cancels: 0,
    deletes: 0,
    contentReads: 0,
    realtime: 0,
  };
  const authorizations = new Set<string>();
  const models = new Set<string>();
  const held: (() => void)[] = [];
  /** Creates per `gateway_batch_id`, then per `gateway_part`. */
  const createdParts = new Map<string, Map<string, number>>();
  /** Polls in flight now, and the most ever in flight at once, per polled batch id. */
  const polling = new Map<string, number>();
  let maxPolling = 0;
  const timers = new Set<NodeJS.Timeout>();
  let createsStarted = 0;
  let closed = false;

  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!closed) fn();
    }, ms);
    timers.add(timer);
    return timer;
  };
  const cancelTimer = (timer: NodeJS.Timeout | null) => {
    if (!timer) return;
    clearTimeout(timer);
    timers.delete(timer);
  };

  const storeFile = (purpose: string, filename: string, bytes: Buffer): FakeBatchFile => {
    const file: FakeBatchFile = { id: `file-${hex(12)}`, purpose, filename, bytes, deleted: false };
    files.set(file.id, file);
    return file;
  };
  const fileObject = (f: FakeBatchFile) => ({
    id: f.id,
    object: 'file',
    bytes: f.bytes.length,
    created_at: now(),
    filename: f.filename,
    purpose: f.purpose,
    status: 'processed',
  });

  /** Writes the output and error files of what has run (reversed), each only when it has lines. */
  const writeResults = (run: Run) => {
    const write = (lines: string[], kind: string) =>
      lines.length === 0
        ? null
        : storeFile(
            'batch_output',
            `${run.batch.id}_${kind}.jsonl`,
            Buffer.from(
              [...lines]
                .reverse()
                .map((l) => `${l}\n`)
                .join(''),
            ),
          ).id;
    run.batch.output_file_id = write(run.outputs, 'output');
    run.batch.error_file_id = write(run.errors, 'error');
  };

  const runLine = (run: Run) => {
    const { batch } = run;
    const line = run.lines[run.next++];
    const id = `batch_req_${hex(12)}`;
    const requestId = `req_${hex(12)}`;
    batch.finished.push(line.customId);
    if (line.content.includes('#omit')) {
      batch.request_counts.completed += 1;
    } else if (line.content.includes('#status=400')) {
      const body = { error: { message: `The fake provider refuses line ${line.line} (#status=400).`, type: 'invalid_request_error', param: null, code: null } };
      run.errors.push(JSON.stringify({ id, custom_id: line.customId, response: { status_code: 400, request_id: requestId, body }, error: null }));
      batch.request_counts.failed += 1;
    } else {
      const body = answerFor(line.url, line.model, line.content);
      run.outputs.push(JSON.stringify({ id, custom_id: line.customId, response: { status_code: 200, request_id: requestId, body }, error: null }));
      batch.request_counts.completed += 1;
    }
  };

  const step = (run: Run) => {
    run.timer = null;
    if (run.batch.status !== 'in_progress') return;
    if (run.next < run.lines.length) {
      runLine(run);
      run.timer = later(run.next < run.lines.length ? state.lineDelayMs : 0, () => step(run));
      return;
    }
    run.batch.status = 'finalizing';
    run.batch.finalizing_at = now();
    run.timer = later(10, () => {
      run.timer = null;
      if (run.batch.status !== 'finalizing') return;
      writeResults(run);
      run.batch.status = 'completed';
      run.batch.completed_at = now();
    });
  };

  const validate = (run: Run) => {
    run.timer = null;
    const { batch } = run;
    if (batch.status !== 'validating') return;
    const bad = run.lines.filter((l) => l.invalid !== null);
    if (bad.length > 0) {
      batch.status = 'failed';
      batch.failed_at = now();
      batch.errors = { object: 'list', data: bad.map((l) => ({ code: 'invalid_request', message: l.invalid!, param: 'body', line: l.line })) };
      return;
    }
    batch.status = 'in_progress';
    batch.in_progress_at = now();
    run.timer = later(state.lineDelayMs, () => step(run));
  };

  const cancel = (run: Run) => {
    const { batch } = run;
    cancelTimer(run.timer);
    batch.status = 'cancelling';
    batch.cancelling_at = now();
    run.timer = later(state.cancelDelayMs, () => {
      run.timer = null;
      writeResults(run);
      batch.status = 'cancelled';
      batch.cancelled_at = now();
    });
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.destroyed || res.headersSent) return;
    res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': `req_${hex(8)}`, ...headers }).end(JSON.stringify(body));
  };

  const upload = async (req: IncomingMessage, raw: Buffer, res: ServerResponse) => {
    if (state.failUploads > 0) {
      state.failUploads -= 1;
      counts.failedUploads += 1;
      return send(res, 503, { error: { message: 'The fake provider is overloaded, try again.', type: 'server_error', param: null, code: null } });
    }
    let form: FormData;
    try {
      form = await new Response(new Uint8Array(raw), { headers: { 'content-type': req.headers['content-type'] ?? '' } }).formData();
    } catch (err) {
      return send(res, 400, invalid(`The body is not multipart/form-data: ${(err as Error).message}`));
    }
    const purpose = form.get('purpose');
    if (purpose !== 'batch') return send(res, 400, invalid(`Invalid purpose ${JSON.stringify(purpose)}: expected 'batch'.`, 'purpose'));
    const file = form.get('file');
    if (file === null || typeof file === 'string') return send(res, 400, invalid("Missing 'file'.", 'file'));
    const bytes = Buffer.from(await file.arrayBuffer());
    for (const line of parseLines(bytes)) if (line.model) models.add(line.model);
    counts.uploads += 1;
    send(res, 200, fileObject(storeFile('batch', file.name || 'upload.jsonl', bytes)));
  };

  const create = (raw: Buffer, res: ServerResponse) => {
    createsStarted += 1;
    let body: { input_file_id?: unknown; endpoint?: unknown; completion_window?: unknown; metadata?: unknown };
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return send(res, 400, invalid('The body is not JSON.'));
    }
    const input = typeof body.input_file_id === 'string' ? files.get(body.input_file_id) : undefined;
    if (!input || input.deleted || input.purpose !== 'batch')
      return send(res, 400, invalid(`Invalid input_file_id ${JSON.stringify(body.input_file_id)}.`, 'input_file_id'));
    const endpoint = typeof body.endpoint === 'string' && ENDPOINTS.includes(body.endpoint) ? body.endpoint : null;
    if (!endpoint) return send(res, 400, invalid(`Unsupported endpoint ${JSON.stringify(body.endpoint)}.`, 'endpoint'));
    if (body.completion_window !== '24h')
      return send(res, 400, invalid(`Unsupported completion_window ${JSON.stringify(body.completion_window)}.`, 'completion_window'));
    // As OpenAI's validation: every line must name the batch's endpoint.
    const lines = parseLines(input.bytes).map((l) =>
      l.invalid || l.url === endpoint ? l : { ...l, invalid: `Line ${l.line}: url ${l.url} is not the batch's endpoint ${endpoint}.` },
    );
    if (lines.some((l) => l.content.includes('#refuse'))) {
      counts.refusedCreates += 1;
      return send(res, 400, invalid(TOKEN_LIMIT_MESSAGE, null, 'token_limit_exceeded'));
    }
    const created = now();
    const batch: FakeProviderBatch = {
      id: `batch_${hex(12)}`,
      object: 'batch',
      endpoint,
      input_file_id: input.id,
      completion_window: body.completion_window,
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      created_at: created,
      in_progress_at: null,
      expires_at: created + 86_400,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: lines.length, completed: 0, failed: 0 },
      metadata: body.metadata && typeof body.metadata === 'object' ? { ...(body.metadata as Record<string, string>) } : null,
      errors: null,
      customIds: lines.map((l) => l.customId),
      finished: [],
      polledAt: [],
    };
    const run: Run = { batch, lines, outputs: [], errors: [], next: 0, timer: null };
    batches.push(batch);
    runs.set(batch.id, run);
    counts.creates += 1;
    const { gateway_batch_id: ours, gateway_part: part } = batch.metadata ?? {};
    if (ours !== undefined && part !== undefined) {
      const perPart = createdParts.get(ours) ?? new Map<string, number>();
      perPart.set(part, (perPart.get(part) ?? 0) + 1);
      createdParts.set(ours, perPart);
    }
    run.timer = later(10, () => validate(run));
    // What the create answered is the batch as it was created, even when the answer is held.
    const answer = served({ ...batch, request_counts: { ...batch.request_counts } });
    if (state.holdCreates) held.push(() => send(res, 200, answer));
    else send(res, 200, answer);
  };

  const list = (url: URL, res: ServerResponse) => {
    counts.lists += 1;
    const limitParam = url.searchParams.get('limit');
    const limit = limitParam === null ? 20 : Number(limitParam);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return send(res, 400, invalid('limit must be an integer from 1 to 100.', 'limit'));
    const newestFirst = [...batches].reverse();
    const after = url.searchParams.get('after');
    let start = 0;
    if (after !== null) {
      const at = newestFirst.findIndex((b) => b.id === after);
      if (at < 0) return send(res, 404, notFound(`batch: ${after}`));
      start = at + 1;
    }
    const page = newestFirst.slice(start, start + limit);
    send(res, 200, {
      object: 'list',
      data: page.map(served),
      first_id: page[0]?.id ?? null,
      last_id: page[page.length - 1]?.id ?? null,
      has_more: start + limit < newestFirst.length,
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    if (req.headers.authorization) authorizations.add(req.headers.authorization);
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    let m: RegExpExecArray | null;

    if (method === 'POST' && path === '/v1/files') return upload(req, raw, res);
    if ((m = /^\/v1\/files\/([^/]+)\/content$/.exec(path)) && method === 'GET') {
      counts.contentReads += 1;
      const file = files.get(m[1]);
      if (!file || file.deleted) return send(res, 404, notFound(`file: ${m[1]}`));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(file.bytes.length) }).end(file.bytes);
      return;
    }
    if ((m = /^\/v1\/files\/([^/]+)$/.exec(path)) && (method === 'GET' || method === 'DELETE')) {
      if (method === 'DELETE') counts.deletes += 1;
      const file = files.get(m[1]);
      if (!file || file.deleted) return send(res, 404, notFound(`file: ${m[1]}`));
      if (method === 'GET') return send(res, 200, fileObject(file));
      file.deleted = true;
      return send(res, 200, { id: file.id, object: 'file', deleted: true });
    }
    if (method === 'POST' && path === '/v1/batches') return create(raw, res);
    if (method === 'GET' && path === '/v1/batches') return list(url, res);
    if ((m = /^\/v1\/batches\/([^/]+)$/.exec(path)) && method === 'GET') {
      const id = m[1];
      counts.polls += 1;
      runs.get(id)?.batch.polledAt.push(Date.now());
      const inFlight = (polling.get(id) ?? 0) + 1;
      polling.set(id, inFlight);
      maxPolling = Math.max(maxPolling, inFlight);
      try {
        if (state.pollDelayMs > 0) await new Promise<void>((r) => later(state.pollDelayMs, r));
        if (state.failPolls > 0) {
          state.failPolls -= 1;
          counts.failedPolls += 1;
          return send(res, 500, { error: { message: 'The fake provider had an internal error.', type: 'server_error', param: null, code: null } });
        }
        // The batch as it is when the answer goes out, after the delay.
        const run = runs.get(id);
        return run ? send(res, 200, served(run.batch)) : send(res, 404, notFound(`batch: ${id}`));
      } finally {
        polling.set(id, polling.get(id)! - 1);
      }
    }
    if ((m = /^\/v1\/batches\/([^/]+)\/cancel$/.exec(path)) && method === 'POST') {
      counts.cancels += 1;
      const run = runs.get(m[1]);
      if (!run) return send(res, 404, notFound(`batch: ${m[1]}`));
      if (ENDED.includes(run.batch.status)) return send(res, 400, invalid(`Cannot cancel a batch with status '${run.batch.status}'.`));
      if (run.batch.status !== 'cancelling') cancel(run);
      return send(res, 200, served(run.batch));
    }

    counts.realtime += 1;
    let body: { model?: unknown } = {};
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      // any body: the answer is a completion all the same
    }
    send(res, 200, chatCompletion(typeof body.model === 'string' ? body.model : 'gpt-fake', lastContent(body)));
  };

  const local = await listenLocal((req, res) => {
    handle(req, res).catch((err) => send(res, 500, { error: { message: String(err), type: 'server_error', param: null, code: null } }));
  });

  return {
    url: `http://127.0.0.1:${local.port}/v1`,
    knobs: state,
    files,
    batches,
    counts,
    authorizations,
    models,
    createsStarted: () => createsStarted,
    createsPerPart: (gatewayBatchId) => Object.fromEntries(createdParts.get(gatewayBatchId) ?? []),
    maxConcurrentPolls: () => maxPolling,
    pollsInFlight: (id) => polling.get(id) ?? 0,
    releaseHeldCreates() {
      for (const answer of held.splice(0)) answer();
    },
    async close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      held.length = 0;
      await local.close();
    },
  };
}
