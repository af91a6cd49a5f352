import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Redis from 'ioredis';
import { FakeUpstream, fakeRouting, startFakeUpstream } from './support/fake-upstream';
import { testEnvironment, waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { freePort } from './support/child-gateway';

/**
 * The scale-out deployment of docs/operations.md, as real processes on one PostgreSQL, one Redis and
 * one DATA_DIR: an API process (ROLE=api, HTTP only) and two worker processes (apps/worker). One
 * worker is killed with SIGKILL in the middle of a batch; its chunk jobs come back through Bull's
 * stalled-job check (15 s lock, 5 s interval) and the survivor finishes the batch. The provider's
 * max_concurrency is shared out between the live workers, so the upstream never sees more than it.
 *
 * Postgres project only (*.pg-e2e-spec.ts): separate api and worker processes need PostgreSQL and Redis.
 */

const REPO_ROOT = resolve(__dirname, '..');
const MODEL = 'scale-model';
const API_KEY = `sk-scale${randomBytes(12).toString('hex')}`;
const LINES = 4000;
const CHUNK_SIZE = 50;
const WORKER_CONCURRENCY = 4;
const MAX_CONCURRENCY = 16;
const READY_TIMEOUT_MS = 60_000;
const FINISH_TIMEOUT_MS = 90_000;
const TS_NODE = ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'];

jest.setTimeout(180_000);

interface BatchObject {
  id: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  request_counts: { total: number; completed: number; failed: number };
}

interface ResultLine {
  custom_id: string;
  response: { status_code: number; body: { choices: { message: { content: string } }[] } } | null;
  error: { code: string; message: string } | null;
}

/** One child process run straight from the sources; keeps the tail of its logs for failure messages. */
class ChildService {
  private child: ChildProcess | null = null;
  private logs = '';

  constructor(
    readonly name: string,
    private readonly entry: string,
    private readonly env: Record<string, string>,
  ) {}

  start(): void {
    const inherited = { ...process.env } as Record<string, string>;
    for (const key of ['DATABASE_URL', 'REDIS_URL', 'REDIS_PREFIX', 'ROLE', 'ROUTING_FILE', 'TS_NODE_PROJECT', 'PORT']) delete inherited[key];
    const child = spawn(process.execPath, [...TS_NODE, this.entry], {
      cwd: REPO_ROOT,
      env: { ...inherited, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (chunk: Buffer) => (this.logs = (this.logs + chunk.toString('utf8')).slice(-20_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL, and wait until the process is gone: no shutdown hook runs, its Bull locks just expire. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  tail(): string {
    return `--- ${this.name} (${this.running ? 'running' : `exited ${this.child?.exitCode ?? this.child?.signalCode}`}) ---\n${this.logs.slice(-3000)}`;
  }
}


function client(baseUrl: string) {
  const headers = { authorization: `Bearer ${API_KEY}` };
  const json = async <T>(res: Response): Promise<T> => {
    const text = await res.text();
    if (!res.ok) throw new Error(`${res.url} answered ${res.status}: ${text}`);
    return JSON.parse(text) as T;
  };
  return {
    async upload(content: string): Promise<string> {
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob([content], { type: 'application/jsonl' }), 'requests.jsonl');
      return (await json<{ id: string }>(await fetch(`${baseUrl}/v1/files`, { method: 'POST', headers, body: form }))).id;
    },
    async createBatch(inputFileId: string): Promise<BatchObject> {
      const body = JSON.stringify({ input_file_id: inputFileId, endpoint: '/v1/chat/completions', completion_window: '24h' });
      return json(await fetch(`${baseUrl}/v1/batches`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body }));
    },
    async cancel(id: string): Promise<BatchObject> {
      return json(await fetch(`${baseUrl}/v1/batches/${id}/cancel`, { method: 'POST', headers }));
    },
    async batch(id: string): Promise<BatchObject> {
      return json(await fetch(`${baseUrl}/v1/batches/${id}`, { headers }));
    },
    async lines(fileId: string | null): Promise<ResultLine[]> {
      if (!fileId) return [];
      const res = await fetch(`${baseUrl}/v1/files/${fileId}/content`, { headers });
      if (!res.ok) throw new Error(`content of ${fileId} answered ${res.status}: ${await res.text()}`);
      return (await res.text())
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as ResultLine);
    },
  };
}

/** Every 50th line is refused by the upstream (400: an error line), every 97th fails once with 500 first (a retry). */
function requestLines(count: number) {
  return Array.from({ length: count }, (_, i) => {
    let content = `scale-out line ${i}`;
    if (i % 50 === 49) content += ' #status=400';
    else if (i % 97 === 96) content += ' #status=500x1';
    return requestLine(i, MODEL, { messages: [{ role: 'user', content }] });
  });
}

describe('Scale-out', () => {
  let upstream: FakeUpstream | null = null;
  let redis: Redis | null = null;
  let cleanup: (() => Promise<void>) | null = null;
  let env: Record<string, string>;
  const children: ChildService[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream({ latencyMs: 8 });
    const environment = await testEnvironment({
      BOOTSTRAP_API_KEY: API_KEY,
      FAKE_UPSTREAM_KEY: 'fake-key',
      CHUNK_SIZE: String(CHUNK_SIZE),
      WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
    });
    env = environment.env;
    cleanup = environment.cleanup;
    env.ROUTING_FILE = join(env.DATA_DIR, 'routing.yaml');
    writeFileSync(env.ROUTING_FILE, fakeRouting(upstream.url, { model: MODEL, maxConcurrency: MAX_CONCURRENCY }));
    redis = new Redis(env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  });

  afterAll(async () => {
    await Promise.allSettled(children.map((c) => c.kill()));
    if (redis) {
      // The killed worker leaves its Bull keys behind; this run's prefix is its own.
      const keys = await redis.keys(`${env.REDIS_PREFIX}:*`).catch(() => [] as string[]);
      if (keys.length > 0) await redis.del(...keys).catch(() => undefined);
      redis.disconnect();
    }
    await upstream?.close();
    await cleanup?.();
  });

  /** Fails with every child's log tail, so a hang says which process was unhappy. */
  async function withLogs<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${children.map((c) => c.tail()).join('\n')}`);
    }
  }

  async function startApi(): Promise<string> {
    const port = await freePort();
    const api = new ChildService('api', 'apps/gateway/src/main.ts', { ...env, ROLE: 'api', PORT: String(port) });
    children.push(api);
    api.start();
    const url = `http://127.0.0.1:${port}`;
    await withLogs(
      waitFor(
        async () => {
          if (!api.running) throw new Error('The API process exited before it was ready');
          return fetch(`${url}/v1/files`, { headers: { authorization: `Bearer ${API_KEY}` } }).then((r) => r.status, () => 0);
        },
        (status) => status === 200,
        READY_TIMEOUT_MS,
        100,
      ),
    );
    return url;
  }

  /** Starts the workers and waits until each has announced itself in Redis (the heartbeat the concurrency share counts). */
  async function startWorkers(count: number): Promise<ChildService[]> {
    const workers = Array.from({ length: count }, (_, i) => new ChildService(`worker-${i + 1}`, 'apps/worker/src/main.ts', env));
    children.push(...workers);
    for (const w of workers) w.start();
    await withLogs(
      waitFor(
        async () => {
          const dead = workers.find((w) => !w.running);
          if (dead) throw new Error(`${dead.name} exited before it was ready`);
          return redis!.zcard(`${env.REDIS_PREFIX}:workers`);
        },
        (live) => live >= count,
        READY_TIMEOUT_MS,
        100,
      ),
    );
    return workers;
  }

  it('runs a batch on an API process and two workers, one killed mid-run: every line exactly once, within max_concurrency', async () => {
    const apiUrl = await startApi();
    const api = client(apiUrl);
    const lines = requestLines(LINES);

    // The API process alone takes uploads and creates batches, but nothing runs: a batch waits in
    // validating, and a cancel gets as far as cancelling, until a worker finishes it.
    const early = await api.createBatch(await api.upload(jsonl(requestLines(10))));
    const inputFileId = await api.upload(jsonl(lines));
    expect(early).toMatchObject({ status: 'validating', request_counts: { total: 10, completed: 0, failed: 0 } });
    await new Promise((r) => setTimeout(r, 500)); // a window in which nothing may happen
    expect((await api.batch(early.id)).status).toBe('validating');
    expect((await api.cancel(early.id)).status).toBe('cancelling');
    expect(upstream!.totalRequests()).toBe(0);

    // Both workers have announced themselves before the measured batch exists, so each takes its half
    // of max_concurrency from its first request (a worker that joins later is not what this checks).
    const [victim] = await startWorkers(2);
    const cancelled = await withLogs(waitFor(() => api.batch(early.id), (b) => b.status === 'cancelled', FINISH_TIMEOUT_MS, 100));
    expect(cancelled.request_counts).toEqual({ total: 10, completed: 0, failed: 10 });
    expect((await api.lines(cancelled.error_file_id)).map((l) => l.error?.code)).toEqual(Array(10).fill('batch_cancelled'));
    expect(upstream!.totalRequests()).toBe(0);

    const created = await api.createBatch(inputFileId);
    expect(created.request_counts.total).toBe(LINES);

    const beforeKill = await withLogs(
      waitFor(
        () => api.batch(created.id),
        (b) => b.request_counts.completed > LINES / 10 || !['validating', 'in_progress'].includes(b.status),
        FINISH_TIMEOUT_MS,
        20,
      ),
    );
    await victim.kill();
    expect(beforeKill.status).toBe('in_progress');
    expect(beforeKill.request_counts.completed + beforeKill.request_counts.failed).toBeLessThan(LINES / 2);

    const finished = await withLogs(
      waitFor(
        () => api.batch(created.id),
        (b) => ['completed', 'failed', 'expired', 'cancelled'].includes(b.status),
        FINISH_TIMEOUT_MS,
        200,
      ),
    );
    expect(finished.status).toBe('completed');

    const output = await api.lines(finished.output_file_id);
    const errors = await api.lines(finished.error_file_id);
    const refused = lines.filter((l) => JSON.stringify(l).includes('#status=400')).map((l) => l.custom_id);
    const retried = lines.filter((l) => JSON.stringify(l).includes('#status=500x1')).length;

    const seen = [...output, ...errors].map((l) => l.custom_id);
    expect(seen).toHaveLength(LINES);
    expect(new Set(seen)).toEqual(new Set(lines.map((l) => l.custom_id)));
    expect(finished.request_counts).toEqual({ total: LINES, completed: LINES - refused.length, failed: refused.length });
    expect(output).toHaveLength(finished.request_counts.completed);
    expect(errors).toHaveLength(finished.request_counts.failed);
    expect(errors.map((l) => l.custom_id).sort()).toEqual([...refused].sort());
    const contentOf = new Map(lines.map((l) => [l.custom_id, (l.body.messages as { content: string }[])[0].content]));
    expect(output.filter((l) => l.response?.body.choices[0].message.content !== `echo: ${contentOf.get(l.custom_id)}`)).toEqual([]);

    // Requests the kill cut off in flight (if any were) are sent again, but what is sent again is at
    // most the killed worker's running chunks.
    expect(upstream!.totalRequests()).toBeGreaterThanOrEqual(LINES + retried);
    expect(upstream!.totalRequests()).toBeLessThanOrEqual(LINES + retried + WORKER_CONCURRENCY * CHUNK_SIZE);
    // Each worker's share is floor(max / live workers); the dead one stays counted for a while, which only lowers it.
    expect(upstream!.maxInFlight()).toBeLessThanOrEqual(MAX_CONCURRENCY);
  });
});
