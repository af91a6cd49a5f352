import { APP_CONFIG, AppConfig, BatchEndpoint, Metrics } from '@app/core';
import type { Provider } from '@app/routing';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockUpstream } from './mock.upstream';
import { OpenAiUpstream } from './openai.upstream';
import { Semaphore } from './semaphore';
import { TokenBucket } from './token-bucket';
import { JobQueue } from '@app/queue';
import { answerOutcome, describeNetworkError, noAnswer } from './outcome';
import { UpstreamAttempt, UpstreamClient, UpstreamFailure, UpstreamOutcome } from './upstream-client';

const MAX_BACKOFF_MS = 30_000;
const MAX_RETRY_AFTER_MS = 120_000;

interface ProviderHandle {
  signature: string;
  client: UpstreamClient;
  limit: Semaphore;
  rate: TokenBucket | null;
  /** The provider's metric series, looked up once instead of per request. */
  count: Record<'dispatched' | 'succeeded' | 'failed' | 'retried', { inc(): void }>;
  latency: { observe(seconds: number): void };
}

const WORKER_COUNT_TTL_MS = 1_000;

/**
 * The realtime providers of this worker: a client per provider (rebuilt when its settings change), its
 * concurrency and rate limits with this worker's share of them (max_concurrency and the rate limit shared
 * out between the live worker processes, so they hold across all of them), and the retry policy of one
 * line: the concurrency slot is held only while a request is in flight, not while it backs off; retries
 * with exponential backoff and full jitter on 429, 5xx, timeouts and connection errors (honouring
 * Retry-After), none for other 4xx. What an answer means for its line is `outcome.ts`'s.
 */
@Injectable()
export class ProviderPool implements OnApplicationShutdown {
  private readonly handles = new Map<string, ProviderHandle>();
  private readonly checked = new WeakMap<Provider, { handle: ProviderHandle; workers: number }>();
  private workers = { count: 1, checkedAt: 0 };
  private refreshing: Promise<unknown> | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly metrics: Metrics,
    private readonly queue: JobQueue,
  ) {}

  /**
   * This process's capacity for a provider: its concurrency slots (the provider's max_concurrency shared
   * out between the live worker processes) and its rate limit. The scheduler starts a line only when it
   * holds a slot (and a token), and passes the slot to `execute`.
   */
  async capacity(provider: Provider): Promise<{ limit: Semaphore; rate: TokenBucket | null }> {
    const handle = this.handle(provider, this.workers.checkedAt === 0 ? await this.liveWorkers() : this.liveWorkersNow());
    return { limit: handle.limit, rate: handle.rate };
  }

  /**
   * Runs one request to its outcome; null when `signal` aborted it (the batch halted, or the worker is stopping). `slot` is the
   * concurrency slot (and rate token) the scheduler took for the first attempt; retries wait for their
   * own, and hold none while they back off.
   */
  async execute(provider: Provider, endpoint: BatchEndpoint, json: string, signal: AbortSignal, slot: () => void): Promise<UpstreamOutcome | null> {
    const handle = this.handle(provider, this.workers.checkedAt === 0 ? await this.liveWorkers() : this.liveWorkersNow());
    const { upstreamMaxAttempts, upstreamRetryBaseMs } = this.config.execution;
    let last: UpstreamOutcome | null = null;
    let held: (() => void) | null = slot;
    for (let attempt = 1; attempt <= upstreamMaxAttempts; attempt++) {
      if (signal.aborted) {
        held?.();
        return null;
      }
      if (!held && handle.rate) {
        try {
          await handle.rate.take(signal);
        } catch {
          return null;
        }
      }
      const release = held ?? (await handle.limit.acquire());
      held = null;
      handle.count.dispatched.inc();
      const started = performance.now();
      let exchange: UpstreamAttempt | null = null;
      let failure: UpstreamFailure | null = null;
      try {
        exchange = await handle.client.send(endpoint, json, signal);
      } catch (err) {
        if (signal.aborted) return null;
        failure = err instanceof UpstreamFailure ? err : describeNetworkError(err as Error);
      } finally {
        release();
      }
      const latencyMs = Math.round(performance.now() - started);
      handle.latency.observe(latencyMs / 1000);
      if (exchange && exchange.statusCode >= 200 && exchange.statusCode < 300) {
        handle.count.succeeded.inc();
        return { ...answerOutcome(exchange), attempts: attempt, latencyMs };
      }
      last = exchange
        ? { ...answerOutcome(exchange), attempts: attempt, latencyMs }
        : { ...noAnswer(failure!.code, failure!.message), attempts: attempt, latencyMs };
      const retryable = exchange ? exchange.statusCode === 429 || exchange.statusCode >= 500 : failure!.retryable;
      if (!retryable || attempt === upstreamMaxAttempts) {
        handle.count.failed.inc();
        break;
      }
      handle.count.retried.inc();
      const backoff = Math.min(MAX_BACKOFF_MS, upstreamRetryBaseMs * 2 ** (attempt - 1)) * Math.random();
      const wait = exchange?.retryAfterMs != null ? Math.min(MAX_RETRY_AFTER_MS, exchange.retryAfterMs) : backoff;
      try {
        await sleep(wait, undefined, { signal });
      } catch {
        return null;
      }
    }
    return last;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.handles.values()].map((h) => h.client.close()));
    this.handles.clear();
  }

  /**
   * The number of worker processes sharing each provider's limits, refreshed every second. Callers
   * wait for the first reading (and share one refresh), so no request runs on a stale count of one;
   * later readings are refreshed in the background (`liveWorkersNow`).
   */
  private async liveWorkers(): Promise<number> {
    this.liveWorkersNow();
    if (this.workers.checkedAt === 0) await this.refreshing;
    return this.workers.count;
  }

  private liveWorkersNow(): number {
    if (Date.now() - this.workers.checkedAt > WORKER_COUNT_TTL_MS) {
      this.refreshing ??= this.queue
        .liveWorkers()
        .then((count) => (this.workers = { count, checkedAt: Date.now() }))
        .catch(() => (this.workers = { ...this.workers, checkedAt: Date.now() }))
        .finally(() => (this.refreshing = null));
    }
    return this.workers.count;
  }

  /** The client and limits of a provider, rebuilt when its settings change; limits follow the worker count. */
  private handle(provider: Provider, workers: number): ProviderHandle {
    // The same provider object (one chunk's) with the same worker count: nothing to check again.
    const known = this.checked.get(provider);
    if (known && known.workers === workers && this.handles.get(provider.id) === known.handle) return known.handle;
    const timeoutMs = provider.timeoutMs ?? this.config.execution.upstreamTimeoutMs;
    const signature = JSON.stringify([provider.kind, provider.baseUrl, provider.apiKeyEnv, timeoutMs]);
    let handle = this.handles.get(provider.id);
    if (!handle || handle.signature !== signature) {
      void handle?.client.close();
      const client =
        provider.kind === 'mock'
          ? new MockUpstream()
          : new OpenAiUpstream({
              baseUrl: provider.baseUrl,
              apiKey: provider.apiKeyEnv ? this.config.readSecret(provider.apiKeyEnv) : undefined,
              connections: provider.maxConcurrency,
              timeoutMs,
              maxResponseBytes: this.config.execution.upstreamMaxResponseBytes,
            });
      const series = (outcome: string) => this.metrics.upstreamRequests.labels({ provider: provider.id, outcome });
      handle = {
        signature,
        client,
        limit: handle?.limit ?? new Semaphore(provider.maxConcurrency),
        rate: handle?.rate ?? null,
        count: { dispatched: series('dispatched'), succeeded: series('succeeded'), failed: series('failed'), retried: series('retried') },
        latency: this.metrics.upstreamLatency.labels({ provider: provider.id }),
      };
      this.handles.set(provider.id, handle);
    }
    handle.limit.setLimit(Math.max(1, Math.floor(provider.maxConcurrency / workers)));
    if (provider.rateLimitPerMinute) {
      const share = provider.rateLimitPerMinute / workers;
      if (handle.rate) handle.rate.setRate(share);
      else handle.rate = new TokenBucket(share);
    } else {
      handle.rate = null;
    }
    this.checked.set(provider, { handle, workers });
    return handle;
  }
}
