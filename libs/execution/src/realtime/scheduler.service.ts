import { AccountsService } from '@app/accounts';
import { BatchRuns, BatchJobs, BatchRun } from '@app/batches';
import { Metrics } from '@app/core';
import { FilesService } from '@app/files';
import { HALT_GRACE_MS } from '@app/queue';
import { Provider, RoutingService } from '@app/routing';
import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { RequestRowsService } from '../request-rows.service';
import type { BatchExecutor } from '../batch-executor';
import { ProviderPool } from '../upstream/provider-pool';
import { Ticker } from '../ticker';
import { WorkerPresence } from '../worker-presence';
import { BatchLines, BatchLinesContext } from './batch-lines';
import { LineLeases } from './line-leases.repository';
import { ProviderDispatcher } from './provider-dispatcher';

/** How often running batches are looked up: a new batch starts, and a cancelled one stops, within this. */
const TICK_MS = 500;

/**
 * The realtime executor: each line of a batch is one request to the provider's realtime endpoint.
 * Pulls work in worker processes. Every tick it reads the running batches (in progress, neither
 * cancelled nor expiring) and the accounts' weights, gives each batch to its provider's dispatcher,
 * which claims the batch's lines in leases and sends them as the provider's capacity frees up, fairly
 * between accounts and batches; it stops batches that are no longer running, and asks for a batch's
 * finalize job once none of its lines is left anywhere. Leases are renewed while held and given back
 * at shutdown, so a dead worker's lines return to the others when its leases run out.
 */
@Injectable()
export class Scheduler implements BatchExecutor {
  readonly mode = 'realtime' as const;
  private readonly logger = new Logger(Scheduler.name);
  private readonly owner: string;
  private readonly dispatchers = new Map<string, ProviderDispatcher>();
  private readonly running = new Map<string, { lines: BatchLines; dispatcher: ProviderDispatcher }>();
  private readonly context: BatchLinesContext;
  private readonly ticker = new Ticker(
    TICK_MS,
    () => this.tick(),
    (err) => this.logger.warn({ err: err.message }, 'Scheduler tick failed; will try again'),
  );
  /** The running batches at the last tick. */
  private active: BatchRun[] = [];

  constructor(
    presence: WorkerPresence,
    private readonly batches: BatchRuns,
    private readonly accounts: AccountsService,
    private readonly routing: RoutingService,
    private readonly upstream: ProviderPool,
    private readonly files: FilesService,
    private readonly rows: RequestRowsService,
    private readonly leases: LineLeases,
    private readonly jobs: BatchJobs,
    private readonly metrics: Metrics,
  ) {
    this.owner = presence.owner;
    this.context = {
      leases,
      owner: this.owner,
      readLine: (fileId, offset, length) => this.files.readLine(fileId, offset, length),
      finish: (batchId, finished) => this.rows.finish(batchId, finished),
      onClaimed: () => this.pumpAll(),
      onIdle: () => this.wake(),
      warn: (fields, message) => this.logger.warn(fields, message),
    };
    metrics.onScrape(async () => this.report());
    presence.reportInFlight(() => Object.fromEntries([...this.dispatchers].map(([providerId, d]) => [providerId, d.inFlight])));
  }

  /** After WorkerPresence.start: this worker is alive to the others. */
  async start(): Promise<void> {
    this.ticker.start();
  }

  /** Nothing to plan: the request rows are the work. */
  async plan(): Promise<void> {}

  /** A halted batch's requests in flight are aborted within HALT_GRACE_MS, and the finalize job waits longer than that. */
  async settled(): Promise<boolean> {
    return true;
  }

  /** Looks for running batches now (a batch was just started here) instead of at the next tick. */
  wake(): void {
    this.ticker.wake();
  }

  /** Graceful shutdown: stops sending, aborts what is in flight, records what finished and gives the rest back. */
  async stop(): Promise<void> {
    await this.ticker.stop();
    for (const { lines } of this.running.values()) lines.halt(0);
    while ([...this.running.values()].some(({ lines }) => lines.inFlight > 0)) await sleep(10);
    await Promise.all([...this.running.values()].map(({ lines }) => lines.results.close()));
    this.running.clear();
    try {
      await this.leases.release(this.owner);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'Could not give leases back; they lapse with this process');
    }
  }

  private async tick(): Promise<void> {
    const active = await this.batches.dispatching();
    const weights = await this.accounts.weights([...new Set(active.map((b) => b.accountId))]);
    const providers = new Map<string, Provider | null>();
    for (const batch of active) {
      if (!providers.has(batch.providerId)) providers.set(batch.providerId, await this.routing.getProvider(batch.providerId).catch(() => null));
    }
    for (const [id, provider] of providers) {
      if (!provider) continue;
      let dispatcher = this.dispatchers.get(id);
      if (!dispatcher) {
        dispatcher = new ProviderDispatcher(provider, this.upstream);
        this.dispatchers.set(id, dispatcher);
      }
      dispatcher.update(provider, await this.upstream.capacity(provider));
    }

    const activeIds = new Set(active.map((b) => b.id));
    for (const batch of active) this.keep(batch, weights.get(batch.accountId) ?? 1);
    for (const [batchId, entry] of this.running) {
      if (!activeIds.has(batchId)) await this.release(batchId, entry);
      else await this.check(batchId, entry);
    }
    this.active = active;
    this.pumpAll();
  }

  /** Adds a batch that is not yet running here, or updates its account's weight. */
  private keep(batch: BatchRun, weight: number): void {
    const dispatcher = this.dispatchers.get(batch.providerId);
    if (!dispatcher) return;
    const known = this.running.get(batch.id);
    if (known) {
      dispatcher.setWeight(batch.accountId, weight);
      return;
    }
    const lines = new BatchLines(batch, this.context);
    this.running.set(batch.id, { lines, dispatcher });
    dispatcher.add(lines, weight);
  }

  /** A batch that halted (cancel, expiry, or ended elsewhere): no more sending, and let it go once nothing is in flight. */
  private async release(batchId: string, { lines, dispatcher }: { lines: BatchLines; dispatcher: ProviderDispatcher }): Promise<void> {
    lines.halt(HALT_GRACE_MS);
    if (lines.inFlight > 0) return;
    dispatcher.remove(lines);
    this.running.delete(batchId);
    await lines.results.close();
    await lines.giveBack([]);
    await this.leases.release(this.owner, batchId).catch(() => undefined);
  }

  /** A running batch: claim again after a dry claim, and ask for its finalize job once no line is pending anywhere. */
  private async check(batchId: string, { lines, dispatcher }: { lines: BatchLines; dispatcher: ProviderDispatcher }): Promise<void> {
    await lines.retryGiveBack();
    if (!lines.idle) return;
    await lines.results.close();
    if (await this.rows.hasPending(batchId)) {
      lines.refill(dispatcher.leaseLines, true);
      return;
    }
    dispatcher.remove(lines);
    this.running.delete(batchId);
    await this.jobs.finalize(batchId);
  }

  private pumpAll(): void {
    for (const dispatcher of this.dispatchers.values()) dispatcher.pump();
  }

  /** The provider gauges, at each scrape: requests in flight here now, lines left in the running batches at the last tick. */
  private report(): void {
    const queued = new Map<string, number>();
    for (const b of this.active) queued.set(b.providerId, (queued.get(b.providerId) ?? 0) + b.total - b.finished);
    for (const [providerId, dispatcher] of this.dispatchers) {
      this.metrics.upstreamInFlight.set({ provider: providerId }, dispatcher.inFlight);
      this.metrics.queuedLines.set({ provider: providerId }, queued.get(providerId) ?? 0);
    }
  }
}
