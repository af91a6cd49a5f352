import { APP_CONFIG, AppConfig, Metrics } from '@app/core';
import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { FilesService } from './files.service';

/**
 * Deletes expired files every FILE_SWEEP_INTERVAL_MS, and counts the tokens of files whose count a stopped
 * process left pending. Started by the worker roles (ExecutionWorkers),
 * where the batches module has registered its in-use check, so no unfinished batch loses its input.
 */
@Injectable()
export class FileSweeper implements OnApplicationShutdown {
  private readonly logger = new Logger(FileSweeper.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly files: FilesService,
    private readonly metrics: Metrics,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.sweep().finally(() => (this.running = null));
    }, this.config.fileSweepIntervalMs);
  }

  async sweep(): Promise<void> {
    try {
      const { deleted, bytes, inUse } = await this.files.deleteExpired();
      const count = Object.values(deleted).reduce((n, c) => n + c, 0);
      for (const [purpose, n] of Object.entries(deleted)) this.metrics.filesExpired.inc({ purpose }, n);
      if (count > 0) this.logger.log({ deleted: count, byPurpose: deleted, bytes, keptInUse: inUse }, 'Expired files deleted');
      const recounted = await this.files.countStalled();
      if (recounted > 0) this.logger.log({ recounted }, 'Token counts left pending by a stopped process were counted');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'File sweep failed; will try again');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
