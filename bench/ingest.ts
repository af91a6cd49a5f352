/**
 * Ingest: how fast the gateway takes a full-size request file (upload + line-by-line validation, then
 * batch create), next to a bare line-by-line JSON.parse of the same file, and how much memory the
 * gateway needs for it.
 *
 *   npx ts-node -r tsconfig-paths/register --transpile-only bench/ingest.ts [--lines 50000] [--line-bytes 4096] [--cpu-prof] [--built dist]
 *
 * Writes a ~200 MB JSONL file (50,000 lines of ~4 KB, each with one long user message) to a temporary
 * directory, streamed, never whole in memory; times readline + JSON.parse over it (best of two); then
 * starts the gateway from the sources on the embedded default (SQLite, in-process queue, the built-in
 * mock route) and uploads the file with a multipart body streamed from disk, sampling the gateway's
 * resident memory (/proc/<pid>/status) every 10 ms. `--cpu-prof` writes a CPU profile of the gateway
 * into the temporary directory and keeps it; `--built DIR` runs compiled JavaScript (see bench/lib.ts) instead
 * of the sources, which gives the memory figure a deployment would see. Prints figures beside the targets; nothing is asserted.
 *
 * Token counting: the gateway counts an uploaded file's input tokens in a worker thread after the upload
 * answers. The bench times that count for the mock model's file (the chars/4 approximation: the worker's
 * line scan alone), then writes the same lines for `--count-model` (default gpt-4o-mini: the o200k_base
 * tokenizer), uploads that too (its upload figure is taken while nothing else counts) and times its
 * count: the tokenizer's own speed in tokens/s. `--count-model ''` skips the second file.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  api,
  createBatch,
  mb,
  procCpuSeconds,
  procMemoryMb,
  report,
  reportProfiles,
  run,
  sampleRss,
  spawnGateway,
  stopAll,
  uploadFromDisk,
  waitForBatch,
} from './lib';

/** The model of the embedded default's built-in mock route. */
const MODEL = 'batch-test-model';
const TARGET_RATIO = 2;
const TARGET_PEAK_RSS_MB = 300;

const WORDS = (
  'the a of to and in that is for it as with was on be at by this had not are but from or have an they which one you were ' +
  'batch gateway request upstream latency throughput concurrency provider model token completion summary translate explain ' +
  'analyse compare describe paragraph document customer invoice quarterly revenue forecast résumé naïve café 東京 数据 ✓'
).split(' ');

/** Each piece's length once JSON-encoded (the inside of the quotes), in bytes. */
const ENCODED_BYTES = new Map(
  WORDS.flatMap((w) => ['\n', ' "quoted" ', ', ', ' '].map((sep) => [w + sep, Buffer.byteLength(JSON.stringify(w + sep)) - 2] as const)),
);

/** A small deterministic PRNG (mulberry32), so every run writes the same file. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One request line of about `lineBytes` bytes (newline included): prose with quotes, newlines and non-ASCII text to escape. */
function requestLine(i: number, lineBytes: number, random: () => number, model: string): string {
  const skeleton = (content: string) =>
    JSON.stringify({
      custom_id: `request-${String(i).padStart(6, '0')}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model,
        messages: [
          { role: 'system', content: 'You are a careful assistant. Answer in one paragraph.' },
          { role: 'user', content },
        ],
        max_tokens: 256,
        temperature: 0.2,
      },
    });
  const budget = lineBytes - 1 - Buffer.byteLength(skeleton(''));
  const parts = [`Request ${i}: `];
  // Escaped characters and multi-byte text make the JSON longer than the string: count encoded bytes as we go, then pad.
  let encoded = Buffer.byteLength(JSON.stringify(parts[0])) - 2;
  while (encoded < budget - 24) {
    const r = random();
    const piece = WORDS[Math.floor(random() * WORDS.length)] + (r < 0.02 ? '\n' : r < 0.04 ? ' "quoted" ' : r < 0.1 ? ', ' : ' ');
    parts.push(piece);
    encoded += ENCODED_BYTES.get(piece) ?? Buffer.byteLength(JSON.stringify(piece)) - 2;
  }
  const content = parts.join('');
  const line = skeleton(content);
  return skeleton(content + '.'.repeat(Math.max(0, lineBytes - 1 - Buffer.byteLength(line)))) + '\n';
}

/** Writes the request file through a stream, honouring backpressure; returns its size in bytes. */
async function writeRequestFile(path: string, lines: number, lineBytes: number, model = MODEL): Promise<number> {
  const out = createWriteStream(path, { highWaterMark: 1024 * 1024 });
  const random = prng(42);
  for (let i = 0; i < lines; i++) {
    if (!out.write(requestLine(i, lineBytes, random, model))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return statSync(path).size;
}

/** The floor: read the file line by line (readline over a stream) and JSON.parse each line. */
async function bareParse(path: string): Promise<{ ms: number; lines: number }> {
  const started = performance.now();
  let lines = 0;
  const reader = createInterface({ input: createReadStream(path, { highWaterMark: 1024 * 1024 }), crlfDelay: Infinity });
  for await (const line of reader) {
    if (line.length === 0) continue;
    const request = JSON.parse(line) as { custom_id: string };
    if (typeof request.custom_id !== 'string') throw new Error(`line ${lines + 1} has no custom_id`);
    lines += 1;
  }
  return { ms: performance.now() - started, lines };
}

interface CountTiming {
  tokens: number;
  /** From the upload's answer to the estimate on the file object (polled every 20 ms). */
  ms: number;
}

/** Waits for the file's `input_tokens_estimate`; times it from `answeredAt` (performance.now() when the upload answered). */
async function timeCount(baseUrl: string, fileId: string, answeredAt: number): Promise<CountTiming> {
  for (;;) {
    const file = await api<{ input_tokens_estimate: number | null }>(baseUrl, 'GET', `/v1/files/${fileId}`);
    if (file.input_tokens_estimate !== null) return { tokens: file.input_tokens_estimate, ms: performance.now() - answeredAt };
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string', default: '50000' },
      'line-bytes': { type: 'string', default: '4096' },
      'cpu-prof': { type: 'boolean', default: false },
      built: { type: 'string' },
      'count-model': { type: 'string', default: 'gpt-4o-mini' },
    },
  });
  const lineCount = Number(values.lines);
  const lineBytes = Number(values['line-bytes']);
  const workDir = mkdtempSync(join(tmpdir(), 'bg-bench-ingest-'));
  const profile = values['cpu-prof'];
  try {
    const path = join(workDir, 'requests.jsonl');
    let started = performance.now();
    const bytes = await writeRequestFile(path, lineCount, lineBytes);
    process.stderr.write(`wrote ${lineCount} lines, ${mb(bytes).toFixed(1)} MB in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);

    const parses = [await bareParse(path), await bareParse(path)];
    if (parses[0].lines !== lineCount) throw new Error(`bare parse read ${parses[0].lines} lines, expected ${lineCount}`);
    const bareMs = Math.min(...parses.map((p) => p.ms));

    const gateway = await spawnGateway(
      { DATA_DIR: join(workDir, 'data'), MAX_FILE_LINES: String(Math.max(lineCount, 50_000)) },
      { nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${workDir}`] : [], builtDir: values.built },
    );
    const idleRssMb = procMemoryMb(gateway.pid, 'VmRSS');
    const bootHwmMb = procMemoryMb(gateway.pid, 'VmHWM');

    const sampler = sampleRss(gateway.pid);
    const cpuBefore = procCpuSeconds(gateway.pid);
    started = performance.now();
    const fileId = await uploadFromDisk(gateway.url, path);
    const uploadMs = performance.now() - started;
    const uploadCpuSeconds = procCpuSeconds(gateway.pid) - cpuBefore;
    const { peakMb, samples } = sampler.stop();
    const hwmMb = procMemoryMb(gateway.pid, 'VmHWM');
    const approxCount = await timeCount(gateway.url, fileId, started + uploadMs);
    // Before the create: the second upload and its count then share the gateway with nothing else.
    const countModel = values['count-model'];
    let tokenized: { uploadMs: number; count: CountTiming; hwmMb: number } | null = null;
    if (countModel) {
      const tokenizedPath = join(workDir, 'requests-tokenized.jsonl');
      await writeRequestFile(tokenizedPath, lineCount, lineBytes, countModel);
      const uploadStarted = performance.now();
      const tokenizedId = await uploadFromDisk(gateway.url, tokenizedPath);
      const answeredAt = performance.now();
      const count = await timeCount(gateway.url, tokenizedId, answeredAt);
      tokenized = { uploadMs: answeredAt - uploadStarted, count, hwmMb: procMemoryMb(gateway.pid, 'VmHWM') };
    }

    started = performance.now();
    const batch = await createBatch(gateway.url, fileId);
    const createMs = performance.now() - started;
    // Not part of ingest, but the next thing a large file costs: one request row per line (prepare).
    const running = await waitForBatch(gateway.url, batch.id, (b) => b.status !== 'validating');
    const prepareMs = performance.now() - started;
    const afterPrepareHwmMb = procMemoryMb(gateway.pid, 'VmHWM');

    await gateway.stop();

    const ratio = uploadMs / bareMs;
    const peak = Math.max(peakMb, hwmMb);
    process.stdout.write(
      report([
        ['gateway', values.built ? `compiled JavaScript from ${values.built}` : 'the sources through ts-node (transpile-only)'],
        ['file', `${lineCount} lines, ${mb(bytes).toFixed(1)} MB (${(bytes / lineCount / 1024).toFixed(1)} KiB a line)`],
        [
          'bare readline + JSON.parse',
          `${(bareMs / 1000).toFixed(2)} s  ${(mb(bytes) / (bareMs / 1000)).toFixed(0)} MB/s  (best of 2: ${parses.map((p) => (p.ms / 1000).toFixed(2)).join(', ')} s)`,
        ],
        ['gateway upload + validation', `${(uploadMs / 1000).toFixed(2)} s  ${(mb(bytes) / (uploadMs / 1000)).toFixed(0)} MB/s`],
        ['gateway CPU in upload', `${uploadCpuSeconds.toFixed(2)} s  (${((uploadCpuSeconds / (uploadMs / 1000)) * 100).toFixed(0)}% of one core)`],
        ['ratio to bare parse', `${ratio.toFixed(2)}x`, { text: `<= ${TARGET_RATIO}x`, met: ratio <= TARGET_RATIO }],
        ['batch create', `${createMs.toFixed(0)} ms  (status ${batch.status}, total ${batch.request_counts.total})`],
        ['create -> in_progress', `${(prepareMs / 1000).toFixed(2)} s  (prepare: ${running.request_counts.total} request rows; status ${running.status})`],
        ['gateway RSS idle', `${idleRssMb.toFixed(0)} MB  (boot peak VmHWM ${bootHwmMb.toFixed(0)} MB)`],
        [
          'gateway peak RSS in upload',
          `${peak.toFixed(0)} MB  (sampled ${peakMb.toFixed(0)} MB over ${samples} samples, VmHWM ${hwmMb.toFixed(0)} MB)`,
          { text: `< ${TARGET_PEAK_RSS_MB} MB`, met: peak < TARGET_PEAK_RSS_MB },
        ],
        ['gateway VmHWM after prepare', `${afterPrepareHwmMb.toFixed(0)} MB`],
        [
          `token count, ${MODEL} (chars/4)`,
          `${(approxCount.ms / 1000).toFixed(2)} s after the upload answered  (${approxCount.tokens.toLocaleString('en-US')} tokens, ${(mb(bytes) / (approxCount.ms / 1000)).toFixed(0)} MB/s)`,
        ],
        ...(tokenized
          ? ([
              [
                `upload of the ${values['count-model']} file`,
                `${(tokenized.uploadMs / 1000).toFixed(2)} s  (${(tokenized.uploadMs / bareMs).toFixed(2)}x the bare parse)`,
                { text: `<= ${TARGET_RATIO}x`, met: tokenized.uploadMs / bareMs <= TARGET_RATIO },
              ],
              [
                `token count, ${values['count-model']} (tokenizer)`,
                `${(tokenized.count.ms / 1000).toFixed(2)} s after the upload answered  (${tokenized.count.tokens.toLocaleString('en-US')} tokens, ` +
                  `${(tokenized.count.tokens / (tokenized.count.ms / 1000) / 1e6).toFixed(2)} M tokens/s, ${(mb(bytes) / (tokenized.count.ms / 1000)).toFixed(0)} MB/s)`,
              ],
              ['gateway VmHWM after counting', `${tokenized.hwmMb.toFixed(0)} MB`],
            ] as [string, string, { text: string; met: boolean }?][])
          : []),
      ]) + '\n',
    );
    if (profile) reportProfiles(workDir);
  } finally {
    await stopAll();
    if (!profile) rmSync(workDir, { recursive: true, force: true });
    else rmSync(join(workDir, 'requests.jsonl'), { force: true });
  }
}

run(main);
