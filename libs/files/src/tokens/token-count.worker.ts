/**
 * The counting worker thread: it receives a stored input file chunk by chunk (`TokenCounter` streams it
 * from storage), splits it into lines, and adds up each request's input tokens (`requestInputTokens`)
 * with the encoding of the line's model. Lines that are not requests count 0 (such a file cannot become
 * a batch anyway). Each chunk is acknowledged once counted, so the sender never runs ahead of it.
 */
import { StringDecoder } from 'node:string_decoder';
import { parentPort } from 'node:worker_threads';
import { charsPer4, encodingFor, requestInputTokens, TextCounter, TokenEncoding } from './token-rules';
import type { CountReply, CountRequest } from './token-count.protocol';

interface Job {
  /** The bytes after the last line break so far. */
  carry: Buffer | null;
  tokens: number;
  lines: number;
}

type TokenizerModule = { countTokens: (text: string, options: { disallowedSpecial: Set<string> }) => number };
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

const counters = new Map<TokenEncoding, TextCounter>([['chars_per_4', charsPer4]]);

/** The tokenizers are loaded on first use: each encoding's table costs memory and tens of ms to build. */
function counterFor(model: string): TextCounter {
  const encoding = encodingFor(model);
  let counter = counters.get(encoding);
  if (!counter) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tokenizer = require(`gpt-tokenizer/encoding/${encoding}`) as TokenizerModule;
    // Special tokens in a request's text are plain text to the upstream; the default would throw on them.
    counter = (text) => tokenizer.countTokens(text, PLAIN_TEXT);
    counters.set(encoding, counter);
  }
  return counter;
}

function countLine(job: Job, bytes: Buffer): void {
  if (bytes.length === 0) return;
  let request: unknown;
  try {
    request = JSON.parse(new StringDecoder('utf8').end(bytes));
  } catch {
    return;
  }
  if (typeof request !== 'object' || request === null) return;
  const { url, body } = request as { url?: unknown; body?: unknown };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
  const model = (body as { model?: unknown }).model;
  if (typeof model !== 'string') return;
  job.lines += 1;
  job.tokens += requestInputTokens(url, body as Record<string, unknown>, counterFor(model));
}

function countChunk(job: Job, chunk: Buffer): void {
  let start = 0;
  for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
    const piece = chunk.subarray(start, nl);
    countLine(job, job.carry ? Buffer.concat([job.carry, piece]) : piece);
    job.carry = null;
    start = nl + 1;
  }
  if (start < chunk.length) {
    const rest = chunk.subarray(start);
    job.carry = job.carry ? Buffer.concat([job.carry, rest]) : Buffer.from(rest);
  }
}

const jobs = new Map<number, Job>();
const port = parentPort!;

port.on('message', (message: CountRequest) => {
  const reply = (r: CountReply) => port.postMessage(r);
  let job = jobs.get(message.id);
  if (!job) jobs.set(message.id, (job = { carry: null, tokens: 0, lines: 0 }));
  try {
    if (message.chunk) {
      countChunk(job, Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength));
      reply({ id: message.id, ack: true });
    } else {
      if (job.carry) countLine(job, job.carry);
      jobs.delete(message.id);
      reply({ id: message.id, tokens: job.tokens, lines: job.lines });
    }
  } catch (err) {
    jobs.delete(message.id);
    reply({ id: message.id, error: String((err as Error)?.stack ?? err) });
  }
});
