import { BatchRuns, BatchJobs, BatchStateMachine } from '@app/batches';
import { Injectable, Logger } from '@nestjs/common';
import { BatchExecutors } from './batch-executors';
import { InputUnreadableError, RequestRowsService } from './request-rows.service';

/**
 * Prepares a batch: request rows from the input file's line index, its executor's plan (the parts of
 * a provider batch), then in_progress, where that executor in every worker picks it up. Idempotent, so
 * a retried or re-run job never writes a line twice.
 */
@Injectable()
export class BatchRunner {
  private readonly logger = new Logger(BatchRunner.name);

  constructor(
    private readonly batches: BatchRuns,
    private readonly states: BatchStateMachine,
    private readonly rows: RequestRowsService,
    private readonly jobs: BatchJobs,
    private readonly executors: BatchExecutors,
  ) {}

  /** validating → in_progress: creates the request rows and the executor's plan; the executor then runs them. */
  async prepare(batchId: string): Promise<void> {
    const batch = await this.batches.get(batchId);
    if (!batch) return;
    if (batch.status === 'validating') {
      try {
        await this.rows.ensureRows(batch);
      } catch (err) {
        if (!(err instanceof InputUnreadableError)) throw err;
        // The input cannot be read back (its stored bytes or index are gone): retrying will not help.
        await this.states.apply(batchId, 'fail', {
          errors: [{ code: 'input_file_unreadable', message: err.message, param: 'input_file_id', line: null }],
        });
        this.logger.warn({ batchId, err: err.message }, 'Batch failed: its input file cannot be read');
        return;
      }
      if (batch.stopReason) return this.requestFinalize(batchId);
      const executor = this.executors.for(batch.execution);
      await executor.plan(batch);
      const started = await this.states.apply(batchId, 'start');
      if (!started) return this.requestFinalize(batchId);
      this.logger.log({ batchId, total: batch.total }, 'Batch in progress');
      if (batch.total === 0) return this.requestFinalize(batchId);
      // Its executor in every worker picks it up; this one looks now rather than at its next tick.
      executor.wake();
    }
  }

  async requestFinalize(batchId: string, delayMs = 0): Promise<void> {
    await this.jobs.finalize(batchId, delayMs);
  }
}
