/**
 * Read path: latency of `GET /v1/batches/{id}` (what every SDK's polling loop calls) under concurrent
 * load, while that batch is running.
 *
 *   npx ts-node -r tsconfig-paths/register --transpile-only bench/read-path.ts [--concurrency 50] [--seconds 10] [--lines 3000] [--cpu-prof] [--built dist]
 *     [--driver sqlite|postgres] [--workers N [--apis M]]
 *
 * Starts a slow fake upstream (its own process, 100 ms a request, max_concurrency 8, so a batch of a
 * few thousand lines runs for minutes) and the gateway, by default on the embedded default in one
 * process (SQLite, in-process queue, ROLE=all: the figure the target is for); uploads the lines,
 * creates the batch, waits until lines are finishing, then polls the batch from `--concurrency` loops
 * over one undici pool for `--seconds` (after a 2 s warm-up that is not counted), then for 3 s from one
 * client alone (the service time without queueing). Prints latency percentiles, requests per second,
 * the gateway's CPU use and the batch's pace with and without the polling beside the target; nothing
 * is asserted. `--cpu-prof` keeps a CPU profile of every gateway process; `--built DIR` runs compiled
 * JavaScript (see bench/lib.ts).
 *
 * `--driver postgres` gives the gateway a fresh PostgreSQL database and Bull on Redis (TEST_PG_URL,
 * TEST_REDIS_URL as in the tests). `--workers N` (PostgreSQL only) splits it: `--apis M` (default 1)
 * `ROLE=api` processes serve the polling, spread evenly over them as a load balancer would (without its
 * cost), and N `ROLE=worker` processes run the batch; CPU is then shown per role.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { fakeRouting } from '../test/support/fake-upstream';
import { writeRoutingFile } from '../test/support/routing';
import {
  api,
  BatchObject,
  BENCH_API_KEY,
  cpuSeconds,
  createBatch,
  Layout,
  procMemoryMb,
  quantile,
  report,
  reportProfiles,
  run,
  spawnFakeUpstream,
  spawnLayout,
  stopAll,
  uploadFromDisk,
  waitForBatch,
} from './lib';

const MODEL = 'read-path-model';
const UPSTREAM_LATENCY_MS = 100;
const UPSTREAM_CONCURRENCY = 8;
const WARM_UP_MS = 2000;
const IDLE_PACE_MS = 2000;
const SINGLE_CLIENT_MS = 3000;
const TARGET_P99_MS = 20;

interface Window {
  latencies: number[];
  errors: number;
  ms: number;
}

/**
 * `concurrency` loops, each sending the next GET as soon as the last one answered, for `durationMs`;
 * loop i polls `urls[i % urls.length]` (several API processes: an even spread, as a load balancer's).
 */
async function poll(urls: string[], agent: Agent, concurrency: number, durationMs: number): Promise<Window> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + durationMs;
  const headers = { authorization: `Bearer ${BENCH_API_KEY}` };
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      const url = urls[i % urls.length];
      while (performance.now() < until) {
        const sent = performance.now();
        try {
          const res = await request(url, { headers, dispatcher: agent });
          const batch = (await res.body.json()) as BatchObject;
          if (res.statusCode !== 200 || batch.object !== 'batch') errors += 1;
          else latencies.push(performance.now() - sent);
        } catch {
          errors += 1;
        }
      }
    }),
  );
  return { latencies: latencies.sort((a, b) => a - b), errors, ms: performance.now() - started };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      concurrency: { type: 'string', default: '50' },
      seconds: { type: 'string', default: '10' },
      lines: { type: 'string', default: '3000' },
      'cpu-prof': { type: 'boolean', default: false },
      built: { type: 'string' },
      driver: { type: 'string', default: 'sqlite' },
      workers: { type: 'string', default: '0' },
      apis: { type: 'string', default: '1' },
    },
  });
  const workers = Number(values.workers);
  const concurrency = Number(values.concurrency);
  const durationMs = Math.min(60, Number(values.seconds)) * 1000;
  const lines = Number(values.lines);
  const profile = values['cpu-prof'];
  const workDir = mkdtempSync(join(tmpdir(), 'bg-bench-read-'));
  let layout: Layout | undefined;
  try {
    const upstream = await spawnFakeUpstream(UPSTREAM_LATENCY_MS);
    const routingFile = writeRoutingFile(join(workDir, 'routing.yaml'), fakeRouting(upstream.url, { model: MODEL, maxConcurrency: UPSTREAM_CONCURRENCY }));
    const env: Record<string, string> = { DATA_DIR: join(workDir, 'data'), ROUTING_FILE: routingFile, UPSTREAM_FAKE_KEY: 'bench-key' };
    layout = await spawnLayout(env, {
      driver: values.driver,
      workers,
      apis: Number(values.apis),
      builtDir: values.built,
      profileDir: profile ? workDir : undefined,
    });
    const { apis: apiProcesses, workers: workerProcesses } = layout;
    const gateway = apiProcesses[0];

    const path = join(workDir, 'requests.jsonl');
    writeFileSync(
      path,
      Array.from({ length: lines }, (_, i) =>
        JSON.stringify({
          custom_id: `req-${i}`,
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: MODEL, messages: [{ role: 'user', content: `Read-path request ${i}` }], max_tokens: 16 },
        }),
      ).join('\n') + '\n',
    );
    const created = await createBatch(gateway.url, await uploadFromDisk(gateway.url, path));
    await waitForBatch(gateway.url, created.id, (b) => b.request_counts.completed > 0);

    const finished = (b: BatchObject) => b.request_counts.completed + b.request_counts.failed;
    const getBatch = () => api<BatchObject>(gateway.url, 'GET', `/v1/batches/${created.id}`);
    // The batch's own pace with nobody polling, to see what the read load costs the in-process worker.
    const idleStart = await getBatch();
    await new Promise((r) => setTimeout(r, IDLE_PACE_MS));
    const idleRate = (finished(await getBatch()) - finished(idleStart)) / (IDLE_PACE_MS / 1000);

    const urls = apiProcesses.map((p) => `${p.url}/v1/batches/${created.id}`);
    const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000, pipelining: 1 });
    await poll(urls, agent, concurrency, WARM_UP_MS);
    const cpuBefore = { api: cpuSeconds(apiProcesses), workers: cpuSeconds(workerProcesses) };
    const before = await getBatch();
    const window = await poll(urls, agent, concurrency, durationMs);
    const apiCpuSeconds = cpuSeconds(apiProcesses) - cpuBefore.api;
    const workerCpuSeconds = cpuSeconds(workerProcesses) - cpuBefore.workers;
    const after = await getBatch();
    const rssMb = apiProcesses.reduce((sum, p) => sum + procMemoryMb(p.pid, 'VmRSS'), 0);
    // One client alone: the service time of a request, without queueing behind the others.
    const single = await poll(urls.slice(0, 1), agent, 1, SINGLE_CLIENT_MS);
    await agent.close();
    await layout.stop();
    await upstream.stop();

    const { latencies } = window;
    const p99 = quantile(latencies, 0.99);
    const ms = (v: number) => `${v.toFixed(2)} ms`;
    process.stdout.write(
      report([
        ['gateway', values.built ? `compiled JavaScript from ${values.built}` : 'the sources through ts-node (transpile-only)'],
        ['layout', layout.description],
        ['load', `GET /v1/batches/{id}, ${concurrency} concurrent, ${(window.ms / 1000).toFixed(1)} s after a ${WARM_UP_MS / 1000} s warm-up`],
        [
          'batch while measured',
          `${after.status}, ${finished(before)} → ${finished(after)} of ${after.request_counts.total} lines finished (${((finished(after) - finished(before)) / (window.ms / 1000)).toFixed(0)} lines/s; ${idleRate.toFixed(0)} lines/s unpolled)`,
        ],
        ['requests', `${latencies.length} ok, ${window.errors} errors, ${(latencies.length / (window.ms / 1000)).toFixed(0)} req/s`],
        ['p50', ms(quantile(latencies, 0.5))],
        ['p90', ms(quantile(latencies, 0.9))],
        ['p99', ms(p99), { text: `< ${TARGET_P99_MS} ms`, met: p99 < TARGET_P99_MS }],
        ['max', ms(latencies[latencies.length - 1] ?? NaN)],
        [
          'one client alone',
          `p50 ${ms(quantile(single.latencies, 0.5))}, p99 ${ms(quantile(single.latencies, 0.99))}, ${(single.latencies.length / (single.ms / 1000)).toFixed(0)} req/s`,
        ],
        [
          workers ? 'api CPU' : 'gateway CPU',
          `${((apiCpuSeconds / (window.ms / 1000)) * 100).toFixed(0)}% of one core, ${((apiCpuSeconds * 1e6) / Math.max(1, latencies.length)).toFixed(0)} µs a request; RSS ${rssMb.toFixed(0)} MB` +
            (workers ? `; workers ${((workerCpuSeconds / (window.ms / 1000)) * 100).toFixed(0)}% of one core` : ''),
        ],
      ]) + '\n',
    );
    if (profile) reportProfiles(workDir);
  } finally {
    await stopAll();
    await layout?.stop();
    if (!profile) rmSync(workDir, { recursive: true, force: true });
  }
}

run(main);
