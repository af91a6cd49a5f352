import Redis from 'ioredis';
import { ChildGateway } from './child-gateway';
import { FakeUpstream, fakeRouting, startFakeUpstream } from './fake-upstream';
import { testEnvironment, waitFor } from './gateway';

const READY_TIMEOUT_MS = 60_000;

/**
 * The scale-out deployment as real child processes on one PostgreSQL, one Redis and one DATA_DIR (the
 * postgres driver's test environment), with a fake upstream serving `model`: ROLE=api gateways and
 * apps/worker processes. Failures carry every child's log tail; `stop` kills them all, removes this
 * run's Redis keys, closes the upstream and drops the environment.
 */
export class ProcessLayout {
  readonly children: ChildGateway[] = [];
  private readonly redis: Redis;

  private constructor(
    readonly env: Record<string, string>,
    readonly upstream: FakeUpstream,
    private readonly cleanup: () => Promise<void>,
  ) {
    this.redis = new Redis(env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  }

  static async create(opts: { apiKey: string; model: string; maxConcurrency: number; latencyMs: number }): Promise<ProcessLayout> {
    const upstream = await startFakeUpstream({ latencyMs: opts.latencyMs });
    const { env, cleanup } = await testEnvironment(
      { BOOTSTRAP_API_KEY: opts.apiKey, UPSTREAM_FAKE_KEY: 'fake-key' },
      fakeRouting(upstream.url, { model: opts.model, maxConcurrency: opts.maxConcurrency }),
    );
    return new ProcessLayout(env, upstream, cleanup);
  }

  /** An API process (HTTP only), ready once `apiKey` is served. */
  async startApi(apiKey: string): Promise<ChildGateway> {
    const api = new ChildGateway({ ...this.env, ROLE: 'api' }, 'apps/gateway/src/main.ts', 'api');
    this.children.push(api);
    await this.withLogs(api.start(apiKey, READY_TIMEOUT_MS));
    return api;
  }

  /** Worker processes, ready once each has announced itself in Redis (the heartbeat the concurrency share counts). */
  async startWorkers(count: number): Promise<ChildGateway[]> {
    if (this.redis.status === 'wait') await this.redis.connect();
    const workers = Array.from({ length: count }, (_, i) => new ChildGateway(this.env, 'apps/worker/src/main.ts', `worker-${i + 1}`));
    this.children.push(...workers);
    for (const w of workers) w.launch();
    await this.withLogs(
      waitFor(
        async () => {
          const dead = workers.find((w) => !w.running);
          if (dead) throw new Error(`${dead.name} exited before it was ready`);
          return this.redis.zcard(`${this.env.REDIS_PREFIX}:workers`);
        },
        (live) => live >= count,
        READY_TIMEOUT_MS,
        100,
      ),
    );
    return workers;
  }

  /** `work`, failing with every child's log tail, so a hang says which process was unhappy. */
  async withLogs<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.children.map((c) => c.tail()).join('\n')}`, { cause: err });
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.children.map((c) => c.stop('SIGKILL')));
    if (this.redis.status === 'ready') {
      // A killed worker leaves its Bull keys behind; this run's prefix is its own.
      const keys = await this.redis.keys(`${this.env.REDIS_PREFIX}:*`).catch(() => [] as string[]);
      if (keys.length > 0) await this.redis.del(...keys).catch(() => undefined);
    }
    this.redis.disconnect();
    await this.upstream.close();
    await this.cleanup();
  }
}
