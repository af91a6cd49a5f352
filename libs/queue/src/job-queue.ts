import { JobName, JobOptions, JobPayloads } from './queue.constants';

export type JobHandler<N extends JobName> = (data: JobPayloads[N]) => Promise<void>;

/**
 * The queue port. It only dispatches: durable state lives in the database, so a lost job is
 * recovered from there. Two drivers: in-process (embedded default) and Bull on Redis.
 */
export abstract class JobQueue {
  abstract add<N extends JobName>(name: N, data: JobPayloads[N], options?: JobOptions): Promise<void>;
  /** Starts consuming `name` with at most `concurrency` handlers at once (worker roles only). */
  abstract process<N extends JobName>(name: N, concurrency: number, handler: JobHandler<N>): void;
  /** Jobs waiting (including delayed) and running, per job name. */
  abstract depth(): Promise<Record<string, { waiting: number; active: number }>>;
  /**
   * How many worker processes are consuming jobs now (this one included). Per-provider limits are
   * shared out between them, so they hold across all workers.
   */
  abstract liveWorkers(): Promise<number>;
  /** Throws when the queue's backend cannot be reached (readiness). */
  abstract ping(): Promise<void>;
  /** Stops taking new jobs and waits for running ones to finish. */
  abstract drain(): Promise<void>;
}
