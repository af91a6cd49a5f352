/**
 * Dispatch overhead: how long the gateway takes to run a batch against an upstream that answers at
 * once, next to sending the same requests straight to that upstream at the same concurrency.
 *
 *   npx ts-node -r tsconfig-paths/register --transpile-only bench/dispatch.ts [--driver sqlite|postgres] [--workers N] [--latency 0] [--lines 20000] [--concurrency 64] [--target 1.25] [--cpu-prof] [--built dist]
 *
 * In flight (the fair scheduler's target): `--lines 40000 --latency 2000 --concurrency 4000 --target 1.15`.
 *
 * Three processes: the fake upstream (test/support/fake-upstream.ts; it answers at once unless
 * `--latency MS` says otherwise) and the gateway are children of this one (bench/lib.ts), which uploads
 * the file, creates the batch and times create → completed (noting when each status is first seen),
 * then sends the same request bodies to the upstream itself with undici over one keep-alive pool.
 * `--driver postgres` gives the gateway a fresh PostgreSQL database and Bull on Redis (TEST_PG_URL,
 * TEST_REDIS_URL as in the tests); with `--workers N` it runs as one `ROLE=api` process and N
 * `ROLE=worker` processes sharing them (and the data directory). CPU seconds of every process are
 * read from /proc, so the gateway's CPU per line can be set beside the bare client's per request.
 * The peak resident memory (VmHWM) of every gateway process is printed too. `--cpu-prof` keeps CPU profiles;
 * `--built DIR` runs compiled JavaScript instead of the sources. Prints figures; nothing is asserted.
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
  cpuSeconds,
  createBatch,
  Layout,
  procCpuSeconds,
  procMemoryMb,
  report,
  reportProfiles,
  run,
  spawnFakeUpstream,
  spawnLayout,
  stopAll,
  TERMINAL,
  uploadFromDisk,
} from './lib';

const MODEL = 'bench-model';
const UPSTREAM_MODEL = 'bench-upstream-model';
const UPSTREAM_KEY = 'bench-key';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      driver: { type: 'string', default: 'sqlite' },
      lines: { type: 'string', default: '20000' },
      concurrency: { type: 'string', default: '64' },
      'cpu-prof': { type: 'boolean', default: false },
      built: { type: 'string' },
      workers: { type: 'string' },
      latency: { type: 'string', default: '0' },
      target: { type: 'string', default: '1.25' },
    },
  });
  const lines = Number(values.lines);
  const concurrency = Number(values.concurrency);
  const profile = values['cpu-prof'];
  const workers = values.workers === undefined ? 0 : Number(values.workers);
  const workDir = mkdtempSync(join(tmpdir(), 'bg-bench-dispatch-'));
  let layout: Layout | undefined;
  try {
    const latencyMs = Number(values.latency);
    const upstream = await spawnFakeUpstream(latencyMs);
    const env: Record<string, string> = {
      DATA_DIR: join(workDir, 'data'),
      ROUTING_FILE: writeRoutingFile(
        join(workDir, 'routing.yaml'),
        fakeRouting(upstream.url, { model: MODEL, upstreamModel: UPSTREAM_MODEL, maxConcurrency: concurrency }),
      ),
      UPSTREAM_FAKE_KEY: UPSTREAM_KEY,
      MAX_FILE_LINES: String(Math.max(lines, 50_000)),
    };
    layout = await spawnLayout(env, { driver: values.driver, workers, builtDir: values.built, profileDir: profile ? workDir : undefined });
    const gateway = layout.apis[0];
    const processes = [...layout.apis, ...layout.workers];
    const startRssMb = processes.map((p) => procMemoryMb(p.pid, 'VmRSS'));

    const bodies = Array.from({ length: lines }, (_, i) => ({
      model: MODEL,
      messages: [{ role: 'user', content: `Benchmark request number ${i}` }],
      max_tokens: 16,
    }));
    const path = join(workDir, 'requests.jsonl');
    writeFileSync(
      path,
      bodies.map((body, i) => JSON.stringify({ custom_id: `req-${i}`, method: 'POST', url: '/v1/chat/completions', body })).join('\n') + '\n',
    );

    let started = performance.now();
    const fileId = await uploadFromDisk(gateway.url, path);
    const uploadMs = performance.now() - started;

    started = performance.now();
    const cpuBefore = { upstream: procCpuSeconds(upstream.pid), each: processes.map((p) => cpuSeconds([p])) };
    let batch = await createBatch(gateway.url, fileId);
    // When each status was first seen (polled every 25 ms), to split the time into phases.
    const seen = new Map<string, number>([[batch.status, 0]]);
    while (!TERMINAL.includes(batch.status)) {
      await new Promise((r) => setTimeout(r, 25));
      batch = await api<BatchObject>(gateway.url, 'GET', `/v1/batches/${batch.id}`);
      if (!seen.has(batch.status)) seen.set(batch.status, performance.now() - started);
    }
    const gatewayMs = performance.now() - started;
    const peakRssMb = processes.map((p) => procMemoryMb(p.pid, 'VmHWM'));
    const cpuEach = processes.map((p, i) => cpuSeconds([p]) - cpuBefore.each[i]);
    const gatewayCpu = { gateway: cpuEach.reduce((sum, c) => sum + c, 0), upstream: procCpuSeconds(upstream.pid) - cpuBefore.upstream };
    await layout.stop();

    const directUpstreamCpu = procCpuSeconds(upstream.pid);
    const clientCpu = process.cpuUsage();
    const direct = await sendDirect(
      upstream.url,
      bodies.map((b) => ({ ...b, model: UPSTREAM_MODEL })),
      concurrency,
    );
    const { user, system } = process.cpuUsage(clientCpu);
    const clientPeakMb = process.resourceUsage().maxRSS / 1024;
    const directCpu = { client: (user + system) / 1e6, upstream: procCpuSeconds(upstream.pid) - directUpstreamCpu };
    const perLine = (seconds: number) => `${Math.round((seconds * 1e6) / lines)} µs/line`;

    const statuses = [...seen.keys()];
    const phases = statuses
      .slice(0, -1)
      .map((status, i) => `${status} ${((seen.get(statuses[i + 1])! - seen.get(status)!) / 1000).toFixed(2)} s`)
      .join(', ');
    const perSecond = (ms: number) => Math.round(lines / (ms / 1000));
    const ratio = gatewayMs / direct.ms;
    process.stdout.write(
      report([
        ['gateway', `${values.built ? `compiled JavaScript from ${values.built}` : 'the sources through ts-node (transpile-only)'}, ${layout.description}`],
        ['requests', `${lines}, upstream latency ${latencyMs} ms, concurrency (provider max_concurrency) ${concurrency}`],
        ['upload + validation', `${(uploadMs / 1000).toFixed(2)} s`],
        [
          'gateway create -> end',
          `${(gatewayMs / 1000).toFixed(2)} s  ${perSecond(gatewayMs)} req/s  (status ${batch.status}; ${batch.request_counts.completed} completed, ${batch.request_counts.failed} failed)`,
        ],
        ['  phases', phases],
        [
          '  CPU',
          `gateway ${gatewayCpu.gateway.toFixed(2)} s (${perLine(gatewayCpu.gateway)}${
            workers
              ? `; api ${cpuEach[0].toFixed(2)} s, workers ${cpuEach
                  .slice(1)
                  .map((c) => c.toFixed(2))
                  .join(' + ')} s`
              : ''
          }), upstream ${gatewayCpu.upstream.toFixed(2)} s (${perLine(gatewayCpu.upstream)})`,
        ],
        ['  peak RSS', `${peakRssMb.map((m) => `${Math.round(m)} MB`).join(' + ')} (${startRssMb.map((m) => `${Math.round(m)} MB`).join(' + ')} when started)`],
        ['direct to upstream', `${(direct.ms / 1000).toFixed(2)} s  ${perSecond(direct.ms)} req/s${direct.failures ? `  (${direct.failures} not 200)` : ''}`],
        ['  peak RSS', `client ${Math.round(clientPeakMb)} MB (this process, holding the ${lines} bodies)`],
        [
          '  CPU',
          `client ${directCpu.client.toFixed(2)} s (${perLine(directCpu.client)}), upstream ${directCpu.upstream.toFixed(2)} s (${perLine(directCpu.upstream)})`,
        ],
        ['ratio gateway/direct', `${ratio.toFixed(2)}x`, { text: `<= ${values.target}x`, met: ratio <= Number(values.target) }],
      ]) + '\n',
    );
    if (profile) reportProfiles(workDir);
  } finally {
    await stopAll();
    await layout?.stop();
    if (!profile) rmSync(workDir, { recursive: true, force: true });
    else rmSync(join(workDir, 'data'), { recursive: true, force: true });
  }
}

/** The same bodies straight to the upstream: `concurrency` lanes over one keep-alive pool, as the gateway's client does. */
async function sendDirect(upstreamUrl: string, bodies: Record<string, unknown>[], concurrency: number): Promise<{ ms: number; failures: number }> {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000, pipelining: 1 });
  const url = `${upstreamUrl}/chat/completions`;
  const headers = { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${UPSTREAM_KEY}` };
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++];
        const res = await request(url, { method: 'POST', headers, body: JSON.stringify(body), dispatcher: agent });
        JSON.parse(await res.body.text());
        if (res.statusCode !== 200) failures += 1;
      }
    }),
  );
  const ms = performance.now() - started;
  await agent.close();
  return { ms, failures };
}

run(main);
