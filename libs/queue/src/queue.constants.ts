/** Job names, their payloads, and the retry options of each: the one place queues are described. */
export const JOBS = {
  prepareBatch: 'batch-prepare',
  finalizeBatch: 'batch-finalize',
  deliverWebhook: 'webhook-deliver',
} as const;

export type JobName = (typeof JOBS)[keyof typeof JOBS];

export interface PrepareBatchJob {
  batchId: string;
}

export interface FinalizeBatchJob {
  batchId: string;
}

export interface DeliverWebhookJob {
  eventId: string;
}

export interface JobPayloads {
  [JOBS.prepareBatch]: PrepareBatchJob;
  [JOBS.finalizeBatch]: FinalizeBatchJob;
  [JOBS.deliverWebhook]: DeliverWebhookJob;
}

export interface JobOptions {
  /** Adding a job whose id is already waiting or running is a no-op. */
  jobId?: string;
  delayMs?: number;
}

/**
 * How often a job whose handler throws is tried, and the first backoff (doubled each time).
 * Handlers are idempotent, so a retry or a re-run after a crash never duplicates output.
 */
export const JOB_RETRY: Record<JobName, { attempts: number; backoffMs: number }> = {
  [JOBS.prepareBatch]: { attempts: 10, backoffMs: 1000 },
  [JOBS.finalizeBatch]: { attempts: 10, backoffMs: 1000 },
  [JOBS.deliverWebhook]: { attempts: 1, backoffMs: 1000 },
};

/**
 * "Halt" is what a batch does when it is cancelled or expires ("stop" is only a process shutting down):
 * it takes no new work at once, but requests already in flight get up to HALT_GRACE_MS to finish (their answers are kept); its finalize job waits HALT_FINALIZE_DELAY_MS so
 * that those answers are recorded before the remaining lines become `batch_cancelled`/`batch_expired`.
 */
export const HALT_GRACE_MS = 2_000;
export const HALT_FINALIZE_DELAY_MS = HALT_GRACE_MS + 1_500;
