import type { BatchRun } from '@app/batches';
import type { ExecutionMode } from '@app/routing';

/**
 * How the lines of a batch run, chosen by the route the batch locked at create: the realtime executor
 * (realtime/, one request per line) or the provider-batch executor (provider-batch/, the provider's own
 * Files + Batches API). Everything around an executor is shared: the state machine, the request rows
 * and counters, the finalizer that writes the output and error files, webhooks and the admin API.
 * Executors run in worker processes and record each line's outcome once in its request row.
 */
export interface BatchExecutor {
  readonly mode: ExecutionMode;
  /** Starts pulling work (after WorkerPresence.start). */
  start(): Promise<void>;
  /** Graceful shutdown: stops, records what finished, and gives its claims back. */
  stop(): Promise<void>;
  /** Plans a batch's work once its request rows exist, before it goes in progress; safe to run again. */
  plan(batch: BatchRun): Promise<void>;
  /** A batch of this mode just went in progress: look for work now rather than at the next tick. */
  wake(): void;
  /** Whether a halting batch (cancelling, expiring) may be finalized now: nothing it waits for is still running. */
  settled(batch: BatchRun): Promise<boolean>;
}
