import { BatchesService } from '@app/batches';
import { APP_CONFIG, AppConfig } from '@app/core';
import { JobQueue, JOBS } from '@app/queue';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { BatchFinalizer } from './batch-finalizer.service';
import { BatchRunner } from './batch-runner.service';
import { SweeperService } from './sweeper.service';

/**
 * In worker roles (`worker`, `all`): consumes the batch queues, starts the sweeper, and picks up
 * every unfinished batch left by a previous process (its jobs are re-added; job ids make that a no-op
 * where they still exist). Handlers only delegate to the services, which are idempotent.
 */
@Injectable()
export class ExecutionWorkers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ExecutionWorkers.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly queue: JobQueue,
    private readonly runner: BatchRunner,
    private readonly finalizer: BatchFinalizer,
    private readonly sweeper: SweeperService,
    private readonly batches: BatchesService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.role === 'api') return;
    const concurrency = this.config.execution.workerConcurrency;
    this.queue.process(JOBS.prepareBatch, 2, (job) => this.timed('prepare', job.batchId, () => this.runner.prepare(job.batchId)));
    this.queue.process(JOBS.runChunk, concurrency, (job) => this.runner.runChunk(job));
    this.queue.process(JOBS.finalizeBatch, 2, (job) => this.timed('finalize', job.batchId, () => this.finalizer.finalize(job.batchId)));
    this.sweeper.start();
    await this.resume();
  }

  /** SIGTERM: stop taking jobs, release running chunks (their pending rows go back to the queue), then let the process exit. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.config.role === 'api') return;
    this.runner.stopAll();
    await this.queue.drain();
    this.logger.log('Workers stopped');
  }

  private async resume(): Promise<void> {
    const unfinished = await this.batches.findUnfinished();
    for (const batch of unfinished) {
      if (batch.status === 'validating') await this.queue.add(JOBS.prepareBatch, { batchId: batch.id }, { jobId: `prepare:${batch.id}` });
      else if (batch.status === 'in_progress' && !batch.stopReason) await this.runner.dispatch(batch.id, batch.total);
      else await this.runner.requestFinalize(batch.id);
    }
    if (unfinished.length > 0) this.logger.log({ batches: unfinished.length }, 'Resumed unfinished batches');
  }

  private async timed(step: string, batchId: string, work: () => Promise<void>): Promise<void> {
    const started = Date.now();
    await work();
    this.logger.debug({ step, batchId, ms: Date.now() - started }, 'Job done');
  }
}
