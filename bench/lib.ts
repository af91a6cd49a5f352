/**
 * Shared pieces of the benchmarks: the gateway and the fake upstream as child processes run from the
 * sources (as bench/dispatch.ts does), a multipart upload streamed from disk, and readings of a child's
 * memory and CPU from /proc. Run directly (`bench/lib.ts --serve-upstream --latency 100`) it serves the
 * fake upstream, so the upstream never shares an event loop with the client being measured.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { freePort, FROM_SOURCES, inheritedEnv, REPO_ROOT, untilReady } from '../test/support/child-gateway';
import { createPostgresDatabase, TEST_REDIS_URL, uniqueName } from '../test/support/databases';
import { BatchObject, restClient, TERMINAL } from '../test/support/rest-client';

export type { BatchObject };
export { TERMINAL };
export const BENCH_API_KEY = `sk-bench${randomBytes(12).toString('hex')}`;
const READY_TIMEOUT_MS = 60_000;

const children = new Set<ChildProcess>();

/** Kills every child on Ctrl-C, so an interrupted benchmark leaves nothing running. */
process.on('SIGINT', () => {
  for (const child of children) child.kill('SIGKILL');
  process.exit(130);
});

export interface GatewayChild {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  /** Node flags before the script, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /**
   * Run compiled JavaScript from this directory (`npm run build` writes ./dist; or
   * `npx tsc -p apps/gateway/tsconfig.app.json --outDir DIR`) instead of the sources through ts-node,
   * whose compiler alone holds ~70 MB of memory.
   */
  builtDir?: string;
  /** What tells that it is ready: an authenticated API route (the default), or `/healthz` (a `ROLE=worker` process, which serves no API). */
  readyWhen?: 'api' | 'health';
}

/**
 * The gateway on a free port, from the sources unless `builtDir` is given, on the embedded default
 * unless `env` says otherwise (the parent's DATABASE_URL, REDIS_URL, ROLE and the like are not
 * inherited). Resolves once an authenticated route answers 200.
 */
export async function spawnGateway(env: Record<string, string>, options: GatewayOptions = {}): Promise<GatewayChild> {
  const port = await freePort();
  const builtDir = options.builtDir ? resolve(options.builtDir) : null;
  // tsconfig-paths maps @app/* under TS_NODE_BASEURL, so a plain `tsc` output (aliases kept) runs as well as `nest build`'s.
  const script = builtDir ? ['-r', 'tsconfig-paths/register', join(builtDir, 'apps/gateway/src/main.js')] : [...FROM_SOURCES, 'apps/gateway/src/main.ts'];
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...script], {
    cwd: REPO_ROOT,
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      BOOTSTRAP_API_KEY: BENCH_API_KEY,
      ADMIN_TOKEN: `adm-bench-${randomBytes(12).toString('hex')}`,
      ...inheritedEnv(),
      ...env,
      // Compiled output outside the repository still finds the repository's packages.
      ...(builtDir ? { TS_NODE_BASEURL: builtDir, NODE_PATH: join(REPO_ROOT, 'node_modules') } : {}),
      PORT: String(port),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.add(child);
  const url = `http://127.0.0.1:${port}`;
  const probe = options.readyWhen === 'health' ? `${url}/healthz` : `${url}/v1/files`;
  await untilReady(child, probe, { apiKey: BENCH_API_KEY, timeoutMs: READY_TIMEOUT_MS, name: 'gateway' });
  return { url, pid: child.pid!, stop: () => stop(child) };
}

export interface LayoutOptions {
  /** `sqlite` (the embedded default) or `postgres` (a fresh database, Bull on Redis; TEST_PG_URL, TEST_REDIS_URL as in the tests). */
  driver: string;
  /** ROLE=worker processes beside the API; 0 runs one ROLE=all process. Needs `postgres`. */
  workers: number;
  /** ROLE=api processes when `workers` > 0. */
  apis?: number;
  builtDir?: string;
  /** Keep a CPU profile of every process in this directory. */
  profileDir?: string;
}

export interface Layout {
  apis: GatewayChild[];
  workers: GatewayChild[];
  /** What ran, for the report: driver and processes. */
  description: string;
  /** Stops every process, then drops the PostgreSQL database if one was made; calling it again does nothing more. */
  stop(): Promise<void>;
}

/**
 * The gateway as a bench runs it: one process on the embedded default or on PostgreSQL + Redis, or
 * `apis` ROLE=api and `workers` ROLE=worker processes sharing one PostgreSQL database, one Redis
 * prefix and `env.DATA_DIR`. Refuses combinations that cannot run.
 */
export async function spawnLayout(env: Record<string, string>, options: LayoutOptions): Promise<Layout> {
  const { driver, workers, apis = 1 } = options;
  if (driver !== 'sqlite' && driver !== 'postgres') throw new Error(`--driver must be sqlite or postgres, not ${driver}`);
  if (workers && driver !== 'postgres') throw new Error('--workers needs --driver postgres (worker processes share PostgreSQL and Redis)');
  if (apis !== 1 && !workers) throw new Error('--apis needs --workers (several ROLE=api processes beside the worker processes)');
  let drop = async () => {};
  const shared = { ...env };
  if (driver === 'postgres') {
    const db = await createPostgresDatabase();
    drop = db.drop;
    Object.assign(shared, { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: uniqueName('bgbench') });
  }
  let stopped: Promise<void> | null = null;
  const spawnOptions = { nodeArgs: options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [], builtDir: options.builtDir };
  const layout: Layout = {
    apis: [],
    workers: [],
    description: `${driver === 'postgres' ? 'PostgreSQL + Bull/Redis' : 'SQLite + in-process queue'}, ${workers ? `${apis} api + ${workers} worker process(es)` : 'one process (ROLE=all)'}`,
    stop: () =>
      (stopped ??= (async () => {
        await Promise.all([...layout.apis, ...layout.workers].map((p) => p.stop()));
        await drop();
      })()),
  };
  try {
    for (let i = 0; i < apis; i++) layout.apis.push(await spawnGateway(workers ? { ...shared, ROLE: 'api' } : shared, spawnOptions));
    for (let i = 0; i < workers; i++) layout.workers.push(await spawnGateway({ ...shared, ROLE: 'worker' }, { ...spawnOptions, readyWhen: 'health' }));
  } catch (err) {
    await layout.stop();
    throw err;
  }
  return layout;
}

/** CPU seconds the processes have used so far, added up. */
export function cpuSeconds(children: { pid: number }[]): number {
  return children.reduce((sum, c) => sum + procCpuSeconds(c.pid), 0);
}

/** The fake upstream (test/support/fake-upstream.ts) in its own process; resolves to its base URL. */
export async function spawnFakeUpstream(latencyMs: number): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [...FROM_SOURCES, __filename, '--serve-upstream', '--latency', String(latencyMs)], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  const [first] = (await Promise.race([
    once(createInterface({ input: child.stdout }), 'line'),
    once(child, 'exit').then(([code]) => Promise.reject(new Error(`the fake upstream exited (${code})`))),
  ])) as [string];
  return { url: (JSON.parse(first) as { url: string }).url, pid: child.pid!, stop: () => stop(child) };
}

/** SIGTERM (the gateway's graceful shutdown, which also writes a --cpu-prof profile), SIGKILL after 10 s. */
async function stop(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map(stop));
}

/** One JSON request to the gateway as the bootstrap account (or as the account of `key`); throws unless 2xx. */
export async function api<T>(baseUrl: string, method: string, path: string, body?: unknown, key = BENCH_API_KEY): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

export async function createBatch(baseUrl: string, inputFileId: string): Promise<BatchObject> {
  return restClient(baseUrl, BENCH_API_KEY).createBatch(inputFileId);
}

/**
 * `POST /v1/files` (purpose=batch) with the multipart body streamed from the file on disk: the client
 * never holds the file, and sends a Content-Length as the SDKs do.
 */
export async function uploadFromDisk(baseUrl: string, path: string, filename = 'requests.jsonl'): Promise<string> {
  const boundary = `----bgbench${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/jsonl\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const size = statSync(path).size;
  async function* body() {
    yield head;
    yield* createReadStream(path, { highWaterMark: 1024 * 1024 });
    yield tail;
  }
  const res = await request(`${baseUrl}/v1/files`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${BENCH_API_KEY}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + size + tail.length),
    },
    body: Readable.from(body(), { objectMode: false }),
    headersTimeout: 600_000,
    bodyTimeout: 600_000,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`upload answered ${res.statusCode}: ${text.slice(0, 500)}`);
  return (JSON.parse(text) as { id: string }).id;
}

/** Polls a batch until `done` accepts it (or it ends); fails after `timeoutMs`. */
export async function waitForBatch(baseUrl: string, id: string, done: (b: BatchObject) => boolean, timeoutMs = 120_000): Promise<BatchObject> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await api<BatchObject>(baseUrl, 'GET', `/v1/batches/${id}`);
    if (done(batch) || TERMINAL.includes(batch.status)) return batch;
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${batch.status} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A field of /proc/<pid>/status in MB of 10^6 bytes (VmRSS: now, VmHWM: the peak since the process started). */
export function procMemoryMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? mb(Number(match[1]) * 1024) : NaN;
}

/** Samples a process's resident memory every `everyMs` until stopped; reports the highest sample. */
export function sampleRss(pid: number, everyMs = 10): { stop(): { peakMb: number; samples: number } } {
  let peakMb = 0;
  let samples = 0;
  const take = () => {
    try {
      peakMb = Math.max(peakMb, procMemoryMb(pid, 'VmRSS'));
      samples += 1;
    } catch {
      // the process is gone
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peakMb, samples };
    },
  };
}

/** User + system CPU seconds a process has used so far (/proc/<pid>/stat, clock ticks of 1/100 s). */
export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Names the CPU profiles `--cpu-prof` left in `dir`. */
export function reportProfiles(dir: string): void {
  const profiles = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  process.stdout.write(`cpu profile(s): ${profiles.map((f) => join(dir, f)).join(', ') || 'none written'}\n`);
}

/** The q-quantile (0..1) of sorted values, nearest-rank. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export const mb = (bytes: number) => bytes / 1_000_000;

/** `label  figure  (target …: ok|MISSED)` lines, aligned. */
export function report(rows: [label: string, figure: string, target?: { text: string; met: boolean }][]): string {
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  const figureWidth = Math.max(...rows.map(([, f]) => f.length)) + 2;
  return rows
    .map(
      ([label, figure, target]) =>
        `${label.padEnd(width)}${target ? figure.padEnd(figureWidth) : figure}${target ? `target ${target.text}: ${target.met ? 'met' : 'MISSED'}` : ''}`,
    )
    .join('\n');
}

/** Runs `main`, prints its error, and always stops the children. */
export function run(main: () => Promise<void>): void {
  main()
    .catch((err) => {
      process.stderr.write(`${err?.stack ?? err}${err?.cause ? `\ncause: ${err.cause?.stack ?? err.cause}` : ''}\n`);
      process.exitCode = 1;
    })
    .finally(() => stopAll());
}

/** Child mode: the fake upstream in its own process. */
async function serveUpstream(latencyMs: number): Promise<void> {
  const { startFakeUpstream } = await import('../test/support/fake-upstream');
  const upstream = await startFakeUpstream({ latencyMs });
  process.stdout.write(`${JSON.stringify({ url: upstream.url })}\n`);
  process.on('SIGTERM', () => void upstream.close().then(() => process.exit(0)));
}

if (require.main === module) {
  const { values } = parseArgs({ options: { 'serve-upstream': { type: 'boolean' }, latency: { type: 'string', default: '0' } } });
  if (values['serve-upstream']) void serveUpstream(Number(values.latency));
}
