import { IncomingMessage, ServerResponse } from 'node:http';
import { listenLocal, readBody } from './local-server';
import type { SkuInput } from '@app/routing';
import { openaiProvider, RoutingFile, sku } from './routing';

/**
 * A real OpenAI-compatible upstream on 127.0.0.1 for tests and benchmarks, serving the five batch
 * endpoints (chat/completions, responses, embeddings, completions, moderations) under /v1. Behaviour
 * per request is steered by markers in its text (the last message's content; `input` or `prompt` on the
 * other endpoints), so each line of a batch can ask for its own:
 *   `#status=500x2`  answer 500 to the first 2 attempts of this content, then succeed
 *   `#status=429x1`  likewise with 429 (add `#retry-after=1` for a Retry-After header, in seconds)
 *   `#status=400`    always answer 400 (no count: every attempt)
 *   `#hang`          never answer (the gateway's timeout must fire)
 *   `#latency=200`   wait 200 ms before answering
 * and hostile answers (each one every attempt):
 *   `#pretty`        a valid answer, pretty-printed over many lines
 *   `#nonjson`       200 with a text/plain body of several lines
 *   `#trickle=500`   200 headers, then one byte of JSON every 500 ms, never ending
 *   `#huge=50`       200 with a 50 MB JSON body, streamed without a Content-Length (`#huge-declared=50`: with one)
 *   `#reset`         200 headers and half a body, then the connection is destroyed
 *   `#nul`           400 whose error message holds a NUL character
 *   `#deep`          200 with JSON nested 200,000 levels deep (parses, cannot be serialised again)
 * and globally by `knobs` (default latency, a fixed status for everything).
 */
export interface FakeUpstreamKnobs {
  latencyMs: number;
  /** When set, every request gets this status (e.g. 503 for an outage). */
  forceStatus: number | null;
}

export interface FakeUpstream {
  url: string;
  knobs: FakeUpstreamKnobs;
  /** Attempts seen per message content. */
  attempts: Map<string, number>;
  /** Message contents in the order their requests arrived (every attempt). */
  arrivals: string[];
  totalRequests(): number;
  maxInFlight(): number;
  /** Authorization headers and models seen (to check key injection and upstream_model). */
  authorizations: Set<string>;
  /** Requests per path (e.g. `/v1/embeddings`). */
  paths: Map<string, number>;
  models: Set<string>;
  close(): Promise<void>;
}

const marker = (content: string, name: string) => new RegExp(`#${name}=(\\d+)(?:x(\\d+))?`).exec(content);

export async function startFakeUpstream(knobs: Partial<FakeUpstreamKnobs> = {}): Promise<FakeUpstream> {
  const state: FakeUpstreamKnobs = { latencyMs: 0, forceStatus: null, ...knobs };
  const attempts = new Map<string, number>();
  const arrivals: string[] = [];
  const authorizations = new Set<string>();
  const models = new Set<string>();
  const paths = new Map<string, number>();
  let total = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let requestSeq = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    total += 1;
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on('close', () => (inFlight -= 1));
    const endpoint = ENDPOINTS.find((e) => req.url === `/v1/${e}`);
    if (req.method !== 'POST' || !endpoint) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
      return;
    }
    paths.set(req.url!, (paths.get(req.url!) ?? 0) + 1);
    if (req.headers.authorization) authorizations.add(req.headers.authorization);
    const body = JSON.parse(raw.toString('utf8'));
    models.add(body.model);
    const content = textOf(endpoint, body);
    const attempt = (attempts.get(content) ?? 0) + 1;
    attempts.set(content, attempt);
    arrivals.push(content);

    if (content.includes('#hang')) return; // never answers; the socket is destroyed on close()
    if (await hostileAnswer(content, body.model, res)) return;
    const latency = marker(content, 'latency');
    const wait = latency ? Number(latency[1]) : state.latencyMs;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));

    const status = marker(content, 'status');
    let code = state.forceStatus ?? 200;
    if (status) {
      const times = status[2] === undefined ? Infinity : Number(status[2]);
      if (attempt <= times) code = Number(status[1]);
    }
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': `req_fake_${++requestSeq}` };
    const retryAfter = marker(content, 'retry-after');
    if (code === 429 && retryAfter) headers['retry-after'] = retryAfter[1];
    if (code !== 200) {
      res.writeHead(code, headers).end(JSON.stringify({ error: { message: `fake upstream says ${code}`, type: 'fake_error', code: `fake_${code}` } }));
      return;
    }
    res.writeHead(200, headers).end(JSON.stringify(answer(endpoint, body.model, content, requestSeq)));
  };

  const local = await listenLocal((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(500).end(String(err));
    });
  });
  local.server.keepAliveTimeout = 60_000;
  return {
    url: `http://127.0.0.1:${local.port}/v1`,
    knobs: state,
    attempts,
    arrivals,
    totalRequests: () => total,
    maxInFlight: () => maxInFlight,
    authorizations,
    models,
    paths,
    close: local.close,
  };
}

const ENDPOINTS = ['chat/completions', 'responses', 'embeddings', 'completions', 'moderations'] as const;
type Endpoint = (typeof ENDPOINTS)[number];

/** The text a request carries, where its markers are read. */
function textOf(endpoint: Endpoint, body: Record<string, unknown>): string {
  if (endpoint === 'chat/completions') {
    const messages = (body.messages ?? []) as { content?: string }[];
    return messages[messages.length - 1]?.content ?? '';
  }
  const value = endpoint === 'completions' ? body.prompt : body.input;
  return typeof value === 'string' ? value : JSON.stringify(value ?? '');
}

/** A 200 answer for the endpoint: `echo: <text>` where there is text, with usage (cached and reasoning details included). */
function answer(endpoint: Endpoint, model: string, content: string, seq: number): unknown {
  const reply = `echo: ${content}`;
  switch (endpoint) {
    case 'chat/completions':
      return {
        id: `chatcmpl-fake-${seq}`,
        object: 'chat.completion',
        created: 1700000000,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: reply, refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage: {
          prompt_tokens: 10,
          completion_tokens: 5,
          total_tokens: 15,
          prompt_tokens_details: { cached_tokens: 2 },
          completion_tokens_details: { reasoning_tokens: 1 },
        },
      };
    case 'completions':
      return {
        id: `cmpl-fake-${seq}`,
        object: 'text_completion',
        created: 1700000000,
        model,
        choices: [{ index: 0, text: reply, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      };
    case 'responses':
      return {
        id: `resp_fake${seq}`,
        object: 'response',
        created_at: 1700000000,
        status: 'completed',
        model,
        output: [
          { type: 'message', id: `msg_fake${seq}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: reply, annotations: [] }] },
        ],
        usage: {
          input_tokens: 10,
          input_tokens_details: { cached_tokens: 3 },
          output_tokens: 5,
          output_tokens_details: { reasoning_tokens: 2 },
          total_tokens: 15,
        },
      };
    case 'embeddings':
      return { object: 'list', model, data: [{ object: 'embedding', index: 0, embedding: [0.6, 0.8] }], usage: { prompt_tokens: 4, total_tokens: 4 } };
    case 'moderations':
      return { id: `modr-fake-${seq}`, model, results: [{ flagged: false, categories: { hate: false }, category_scores: { hate: 0 } }] };
  }
}

const completion = (model: string, content: string) => ({
  id: 'chatcmpl-fake-hostile',
  object: 'chat.completion',
  created: 1700000000,
  model,
  choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${content}` }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
});

/** Writes `chunk` and waits for the socket to take it; false once the gateway has hung up. */
async function write(res: ServerResponse, chunk: string | Buffer): Promise<boolean> {
  if (res.destroyed) return false;
  if (!res.write(chunk)) await Promise.race([new Promise((r) => res.once('drain', r)), new Promise((r) => res.once('close', r))]);
  return !res.destroyed;
}

/** The hostile modes of the file header comment; true when one answered. */
async function hostileAnswer(content: string, model: string, res: ServerResponse): Promise<boolean> {
  const json = { 'content-type': 'application/json' };
  if (content.includes('#pretty')) {
    res.writeHead(200, json).end(JSON.stringify(completion(model, content), null, 2));
  } else if (content.includes('#nonjson')) {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('plain text\nover two lines');
  } else if (content.includes('#nul')) {
    res.writeHead(400, json).end(JSON.stringify({ error: { message: 'bad\u0000request', type: 'invalid_request_error' } }));
  } else if (content.includes('#deep')) {
    const depth = 200_000;
    res.writeHead(200, json).end('['.repeat(depth) + ']'.repeat(depth));
  } else if (content.includes('#reset')) {
    res.writeHead(200, json);
    res.write(JSON.stringify(completion(model, content)).slice(0, 40));
    setTimeout(() => res.socket?.destroy(), 20);
  } else if (marker(content, 'trickle')) {
    const every = Number(marker(content, 'trickle')![1]);
    res.writeHead(200, json);
    const text = JSON.stringify(completion(model, content)) + ' '.repeat(1_000_000);
    for (let i = 0; i < text.length && (await write(res, text[i])); i++) await new Promise((r) => setTimeout(r, every));
  } else if (marker(content, 'huge') || marker(content, 'huge-declared')) {
    const declared = marker(content, 'huge-declared');
    const bytes = Number((declared ?? marker(content, 'huge'))![1]) * 1024 * 1024;
    const filler = Buffer.alloc(64 * 1024, 'a');
    const head = Buffer.from('{"object":"chat.completion","padding":"');
    const tail = Buffer.from('"}');
    const fill = bytes - head.length - tail.length;
    res.writeHead(200, declared ? { ...json, 'content-length': String(bytes) } : json);
    if (!(await write(res, head))) return true;
    for (let sent = 0; sent < fill; sent += filler.length) {
      if (!(await write(res, filler.subarray(0, Math.min(filler.length, fill - sent))))) return true;
    }
    res.end(tail);
  } else {
    return false;
  }
  return true;
}

/** A routing file that sends `model` to the fake upstream (provider `fake`, key in UPSTREAM_FAKE_KEY) as `upstreamModel`. */
export function fakeRouting(
  upstreamUrl: string,
  opts: { model?: string; upstreamModel?: string; maxConcurrency?: number; timeoutMs?: number; endpoints?: string[] } = {},
): Required<RoutingFile> {
  const model = opts.model ?? 'fake-model';
  return {
    providers: [
      openaiProvider('fake', upstreamUrl, { api_key_env: 'UPSTREAM_FAKE_KEY', max_concurrency: opts.maxConcurrency ?? 16, timeout_ms: opts.timeoutMs }),
    ],
    skus: [sku(model, 'fake', opts.upstreamModel ?? 'fake-upstream-model', { endpoints: opts.endpoints, priority: 10 })],
  };
}

/** `fakeRouting` with `prices` on its SKU. */
export function pricedRouting(
  upstreamUrl: string,
  opts: Parameters<typeof fakeRouting>[1],
  prices: Pick<SkuInput, 'input_price_per_mtok' | 'output_price_per_mtok' | 'batch_discount'>,
): Required<RoutingFile> {
  const routing = fakeRouting(upstreamUrl, opts);
  return { ...routing, skus: routing.skus.map((s) => ({ ...s, ...prices })) };
}
