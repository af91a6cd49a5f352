import { Clock } from '@app/core';
import { Transaction, UnitOfWork } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { toBatchObject } from './batch.mapper';
import type { BatchObject } from './batch.types';
import { BatchesRepository } from './batches.repository';
import { TRANSITIONS, Transition } from './batch-transitions';
import { BatchEntity, BatchStatus } from './entities/batch.entity';

/**
 * Runs inside the transaction of a status change (webhooks record their event there: an outbox); it may
 * return work to run once the transaction has committed (enqueueing the delivery).
 */
export type TransitionHook = (
  tx: Transaction,
  change: { batch: BatchObject; accountId: string; transition: Transition },
) => Promise<void | (() => Promise<void>)>;

/**
 * The one way a batch changes status: a guarded UPDATE (only from the allowed source states) that sets
 * the timestamp and any extra columns, plus the registered hooks, all in one transaction.
 */
@Injectable()
export class BatchStateMachine {
  private readonly hooks: TransitionHook[] = [];

  constructor(
    private readonly unitOfWork: UnitOfWork,
    private readonly batches: BatchesRepository,
    private readonly clock: Clock,
  ) {}

  onTransition(hook: TransitionHook): void {
    this.hooks.push(hook);
  }

  /** Applies the transition; returns the updated batch, or null when the batch was not in a source state. */
  async apply(
    batchId: string,
    transition: Transition,
    patch: Partial<BatchEntity> = {},
    alongside?: (tx: Transaction) => Promise<void>,
  ): Promise<BatchEntity | null> {
    const rule: { from: readonly BatchStatus[]; to: BatchStatus; at: keyof BatchEntity; onlyRunning?: boolean } = TRANSITIONS[transition];
    const { from, to, at } = rule;
    const afterCommit: (() => Promise<void>)[] = [];
    const updated = await this.unitOfWork.run(async (tx) => {
      const changed = await this.batches.changeStatus(
        tx,
        batchId,
        { from, onlyRunning: rule.onlyRunning },
        { ...patch, status: to, [at]: this.clock.nowSeconds() },
      );
      if (!changed) return null;
      if (alongside) await alongside(tx);
      const batch = await this.batches.getIn(tx, batchId);
      for (const hook of this.hooks) {
        const then = await hook(tx, { batch: toBatchObject(batch), accountId: batch.accountId, transition });
        if (then) afterCommit.push(then);
      }
      return batch;
    });
    for (const then of afterCommit) await then();
    return updated;
  }
}
