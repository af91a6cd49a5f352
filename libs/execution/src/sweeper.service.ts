import { BatchRuns, BatchJobs } from '@app/batches';
import { APP_CONFIG, AppConfig } from '@app/core';
import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';

/** Expires batches whose completion window has passed: it marks them, and the finalizer ends them. */
@Injectable()
export class SweeperService implements OnApplicationShutdown {
  private readonly logger = new Logger(SweeperService.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly batches: BatchRuns,
    private readonly jobs: BatchJobs,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.sweep().finally(() => (this.running = null));
    }, this.config.execution.sweepIntervalMs);
  }

  async sweep(): Promise<void> {
    try {
      for (const batchId of await this.batches.markExpiring()) {
        this.logger.log({ batchId }, 'Batch expired; finalizing what finished');
        await this.jobs.finalizeHalted(batchId);
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'Sweep failed; will try again');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
