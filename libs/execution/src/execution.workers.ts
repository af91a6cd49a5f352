import { BatchRuns, BatchJobs } from '@app/batches';
import { APP_CONFIG, AppConfig } from '@app/core';
import { FileSweeper } from '@app/files';
import { JobQueue, JOBS } from '@app/queue';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { BatchExecutors } from './batch-executors';
import { BatchFinalizer } from './batch-finalizer.service';
import { BatchRunner } from './batch-runner.service';
import { SweeperService } from './sweeper.service';
import { WorkerPresence } from './worker-presence';

/**
 * In worker roles (`worker`, `all`): consumes the lifecycle queues (prepare, finalize), starts both
 * executors (realtime lines, provider batches), the batch sweeper and the expired-file sweeper (here,
 * where batches has registered its in-use check with files), and picks up every unfinished batch left
 * by a previous process (its jobs are re-added; job ids make that a no-op where they still exist;
 * running batches need nothing, the scheduler finds them). Handlers only delegate to the services,
 * which are idempotent.
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
    private readonly fileSweeper: FileSweeper,
    private readonly batches: BatchRuns,
    private readonly jobs: BatchJobs,
    private readonly presence: WorkerPresence,
    private readonly executors: BatchExecutors,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.role === 'api') return;
    this.queue.process(JOBS.prepareBatch, 2, (job) => this.timed('prepare', job.batchId, () => this.runner.prepare(job.batchId)));
    this.queue.process(JOBS.finalizeBatch, 2, (job) => this.timed('finalize', job.batchId, () => this.finalizer.finalize(job.batchId)));
    this.sweeper.start();
    this.fileSweeper.start();
    await this.presence.start();
    for (const executor of this.executors.all) await executor.start();
    await this.resume();
  }

  /** SIGTERM: the executors stop (lines in flight are aborted and given back with the rest; parts are released), stop taking jobs, then let the process exit. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.config.role === 'api') return;
    await Promise.all(this.executors.all.map((executor) => executor.stop()));
    await this.presence.stop();
    await this.queue.drain();
    this.logger.log('Workers stopped');
  }

  private async resume(): Promise<void> {
    const unfinished = await this.batches.unfinished();
    for (const batch of unfinished) {
      if (batch.status === 'validating') await this.jobs.prepare(batch.id);
      else if (batch.status !== 'in_progress' || batch.stopReason) await this.jobs.finalize(batch.id);
    }
    if (unfinished.length > 0) this.logger.log({ batches: unfinished.length }, 'Resumed unfinished batches');
  }

  private async timed(step: string, batchId: string, work: () => Promise<void>): Promise<void> {
    const started = Date.now();
    await work();
    this.logger.debug({ step, batchId, ms: Date.now() - started }, 'Job done');
  }
}
