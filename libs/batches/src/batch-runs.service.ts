import { Transaction } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { BatchesRepository } from './batches.repository';
import { BatchProgress, BatchRun } from './batch.types';

/**
 * What the execution engine reads and counts of batches: the runs it must drive (dispatching, halting,
 * unfinished, expiring) and the counters it adds inside its own transactions. Status changes are the
 * state machine's.
 */
@Injectable()
export class BatchRuns {
  constructor(private readonly batches: BatchesRepository) {}

  get(batchId: string): Promise<BatchRun | null> {
    return this.batches.getRun(batchId);
  }

  /** Realtime batches whose lines may be sent now. */
  dispatching(): Promise<BatchRun[]> {
    return this.batches.dispatching();
  }

  /** Provider-batch batches that are cancelling or expiring: their provider batches must be cancelled. */
  haltingOnProviders(): Promise<BatchRun[]> {
    return this.batches.haltingOnProviders();
  }

  /** Batches a worker must pick up again after a restart. */
  unfinished(): Promise<BatchRun[]> {
    return this.batches.findUnfinished();
  }

  /** Marks running batches past their window as expiring; returns the ids this call marked. */
  markExpiring(): Promise<string[]> {
    return this.batches.markExpiring();
  }

  /** Adds finished lines to the batch's counters, in the caller's transaction (the one that finished them). */
  addProgress(tx: Transaction, batchId: string, progress: BatchProgress): Promise<void> {
    return this.batches.addProgress(tx, batchId, progress);
  }

  /** Sets what the batch's provider batches report finished, from `reported` read under the batch's lock. */
  setRemoteProgress(tx: Transaction, batchId: string, reported: () => Promise<{ completed: number; failed: number }>): Promise<void> {
    return this.batches.setRemoteProgress(tx, batchId, reported);
  }
}
