/**
 * Dispatch overhead: how long the gateway takes to run a batch against an upstream that answers at
 * once, next to sending the same requests straight to that upstream at the same concurrency.
 *
 *   npx ts-node -r tsconfig-paths/register --transpile-only bench/dispatch.ts [--driver sqlite|postgres] [--lines 20000] [--concurrency 64]
 *
 * Three processes: the fake upstream (test/support/fake-upstream.ts, zero latency) and the gateway
 * (run from the sources, NODE_ENV=production) are children of this one, which uploads the file,
 * creates the batch, times create → completed, then sends the same request bodies to the upstream
 * itself with undici. `--driver postgres` gives the gateway a fresh PostgreSQL database and Bull on
 * Redis (TEST_PG_URL, TEST_REDIS_URL as in the tests). CHUNK_SIZE and WORKER_CONCURRENCY pass
 * through to the gateway. Prints figures only; nothing is asserted.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { createPostgresDatabase, TEST_REDIS_URL, uniqueName } from '../test/support/databases';
import { fakeRouting, startFakeUpstream } from '../test/support/fake-upstream';

const REPO_ROOT = resolve(__dirname, '..');
const MODEL = 'bench-model';
const UPSTREAM_MODEL = 'bench-upstream-model';
const API_KEY = `sk-bench${randomBytes(12).toString('hex')}`;
const TS_NODE = ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'];

interface BatchObject {
  id: string;
  status: string;
  request_counts: { total: number; completed: number; failed: number };
}

const children = new Set<ChildProcess>();

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      driver: { type: 'string', default: 'sqlite' },
      lines: { type: 'string', default: '20000' },
      concurrency: { type: 'string', default: '64' },
      'serve-upstream': { type: 'boolean', default: false },
    },
  });
  if (values['serve-upstream']) return serveUpstream();
  const driver = values.driver;
  if (driver !== 'sqlite' && driver !== 'postgres') throw new Error(`--driver must be sqlite or postgres, not ${driver}`);
  const lines = Number(values.lines);
  const concurrency = Number(values.concurrency);

  const cleanups: (() => Promise<void>)[] = [];
  try {
    const upstreamUrl = await spawnUpstream();
    const dataDir = mkdtempSync(join(tmpdir(), 'bg-bench-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const routingFile = join(dataDir, 'routing.yaml');
    writeFileSync(routingFile, fakeRouting(upstreamUrl, { model: MODEL, upstreamModel: UPSTREAM_MODEL, maxConcurrency: concurrency }));
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATA_DIR: dataDir,
      ROUTING_FILE: routingFile,
      BOOTSTRAP_API_KEY: API_KEY,
      ADMIN_TOKEN: `adm-bench-${randomBytes(12).toString('hex')}`,
      FAKE_UPSTREAM_KEY: 'bench-key',
      MAX_FILE_LINES: String(Math.max(lines, 50_000)),
    };
    for (const key of ['CHUNK_SIZE', 'WORKER_CONCURRENCY']) if (process.env[key]) env[key] = process.env[key]!;
    if (driver === 'postgres') {
      const db = await createPostgresDatabase();
      cleanups.push(db.drop);
      env.DATABASE_URL = db.url;
      env.REDIS_URL = TEST_REDIS_URL;
      env.REDIS_PREFIX = uniqueName('bgbench');
    }
    const gatewayUrl = await spawnGateway(env);

    const bodies = Array.from({ length: lines }, (_, i) => ({
      model: MODEL,
      messages: [{ role: 'user', content: `Benchmark request number ${i}` }],
      max_tokens: 16,
    }));
    const file = bodies.map((body, i) => JSON.stringify({ custom_id: `req-${i}`, method: 'POST', url: '/v1/chat/completions', body })).join('\n') + '\n';

    let started = performance.now();
    const fileId = await upload(gatewayUrl, file);
    const uploadMs = performance.now() - started;

    started = performance.now();
    const created = await api<BatchObject>(gatewayUrl, 'POST', '/v1/batches', { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' });
    // When each status was first seen (polled every 25 ms), to split the time into phases.
    const seen = new Map<string, number>([[created.status, 0]]);
    let batch = created;
    while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
      await new Promise((r) => setTimeout(r, 25));
      batch = await api<BatchObject>(gatewayUrl, 'GET', `/v1/batches/${created.id}`);
      if (!seen.has(batch.status)) seen.set(batch.status, performance.now() - started);
    }
    const gatewayMs = performance.now() - started;
    const statuses = [...seen.keys()];
    const phases = statuses
      .slice(0, -1)
      .map((status, i) => `${status} ${((seen.get(statuses[i + 1])! - seen.get(status)!) / 1000).toFixed(2)} s`)
      .join(', ');

    const directMs = await sendDirect(upstreamUrl, bodies.map((b) => ({ ...b, model: UPSTREAM_MODEL })), concurrency);

    const perSecond = (ms: number) => Math.round(lines / (ms / 1000));
    const out = [
      `driver                 ${driver}${driver === 'postgres' ? ' + Bull/Redis' : ' + in-process queue'}`,
      `requests               ${lines}, concurrency ${concurrency}, chunk size ${env.CHUNK_SIZE ?? 'default'}, worker concurrency ${env.WORKER_CONCURRENCY ?? 'default'}`,
      `upload + validation    ${(uploadMs / 1000).toFixed(2)} s (${(file.length / 1024 / 1024).toFixed(1)} MB)`,
      `gateway                ${(gatewayMs / 1000).toFixed(2)} s  ${perSecond(gatewayMs)} req/s  create → ${batch.status} (completed ${batch.request_counts.completed}, failed ${batch.request_counts.failed})`,
      `  phases               ${phases}`,
      `direct to upstream     ${(directMs / 1000).toFixed(2)} s  ${perSecond(directMs)} req/s`,
      `ratio gateway/direct   ${(gatewayMs / directMs).toFixed(2)}x`,
    ];
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    await Promise.all([...children].map(stop));
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err) => process.stderr.write(`cleanup: ${err}\n`));
  }
}

/** Child mode: the fake upstream in its own process, so it never shares an event loop with the client it serves. */
async function serveUpstream(): Promise<void> {
  const upstream = await startFakeUpstream({ latencyMs: 0 });
  process.stdout.write(`${JSON.stringify({ url: upstream.url })}\n`);
  process.on('SIGTERM', () => void upstream.close().then(() => process.exit(0)));
}

async function spawnUpstream(): Promise<string> {
  const child = spawn(process.execPath, [...TS_NODE, __filename, '--serve-upstream'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const [first] = (await Promise.race([
    once(createInterface({ input: child.stdout! }), 'line'),
    once(child, 'exit').then(([code]) => Promise.reject(new Error(`the fake upstream exited (${code})`))),
  ])) as [string];
  return (JSON.parse(first) as { url: string }).url;
}

async function spawnGateway(env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const inherited = { ...process.env } as Record<string, string>;
  for (const key of ['DATABASE_URL', 'REDIS_URL', 'REDIS_PREFIX', 'ROLE']) delete inherited[key];
  const child = spawn(process.execPath, [...TS_NODE, 'apps/gateway/src/main.ts'], {
    cwd: REPO_ROOT,
    env: { ...inherited, ...env, PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.add(child);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}) before it was ready`);
    const status = await fetch(`${url}/v1/files`, { headers: { authorization: `Bearer ${API_KEY}` } }).then((r) => r.status, () => 0);
    if (status === 200) return url;
    if (Date.now() > deadline) throw new Error(`the gateway was not ready after 60 s (last status ${status})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

async function api<T>(baseUrl: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

async function upload(baseUrl: string, content: string): Promise<string> {
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', new Blob([content], { type: 'application/jsonl' }), 'bench.jsonl');
  const res = await fetch(`${baseUrl}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: form });
  const text = await res.text();
  if (!res.ok) throw new Error(`upload answered ${res.status}: ${text}`);
  return (JSON.parse(text) as { id: string }).id;
}

/** The same bodies straight to the upstream: `concurrency` lanes over one keep-alive pool, as the gateway's client does. */
async function sendDirect(upstreamUrl: string, bodies: Record<string, unknown>[], concurrency: number): Promise<number> {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000, pipelining: 1 });
  const url = `${upstreamUrl}/chat/completions`;
  const headers = { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer bench-key' };
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
  if (failures > 0) process.stderr.write(`direct: ${failures} requests did not answer 200\n`);
  return ms;
}

process.on('SIGINT', () => {
  for (const child of children) child.kill('SIGKILL');
  process.exit(130);
});

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exitCode = 1;
});
