import { JobQueue, JOBS, HALT_FINALIZE_DELAY_MS } from '@app/queue';
import { Injectable } from '@nestjs/common';

/**
 * The one place that queues a batch's lifecycle jobs and names them. A job id per batch makes adding
 * the same job again (a retry, a resume after a crash, two workers noticing the same end) a no-op while
 * it waits or runs. Dispatch is not a job: the execution scheduler pulls lines itself.
 */
@Injectable()
export class BatchJobs {
  constructor(private readonly queue: JobQueue) {}

  /** validating → in_progress: request rows from the input file. */
  prepare(batchId: string): Promise<void> {
    return this.queue.add(JOBS.prepareBatch, { batchId }, { jobId: `prepare:${batchId}` });
  }

  /** Ends the batch (completed, cancelled or expired) once nothing is left to run. */
  finalize(batchId: string, delayMs = 0): Promise<void> {
    return this.queue.add(JOBS.finalizeBatch, { batchId }, { jobId: `finalize:${batchId}`, delayMs });
  }

  /** After a cancel or an expiry: late enough for the answers of requests still in flight to be recorded. */
  finalizeHalted(batchId: string): Promise<void> {
    return this.finalize(batchId, HALT_FINALIZE_DELAY_MS);
  }
}
