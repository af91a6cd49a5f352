import { Clock } from '@app/core';
import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { toBatchObject } from './batch.mapper';
import type { BatchObject } from './batch.types';
import { BATCH_STATUSES, BatchEntity, BatchStatus } from './entities/batch.entity';

/** Every status change a batch can make: its source states, its target, and the timestamp it sets. */
export const TRANSITIONS = {
  start: { from: ['validating'], to: 'in_progress', at: 'inProgressAt' },
  fail: { from: ['validating'], to: 'failed', at: 'failedAt' },
  // A batch already expiring (stop_reason set) ends as expired, not cancelled.
  requestCancel: { from: ['validating', 'in_progress'], to: 'cancelling', at: 'cancellingAt', onlyRunning: true },
  finalize: { from: ['in_progress'], to: 'finalizing', at: 'finalizingAt' },
  complete: { from: ['finalizing'], to: 'completed', at: 'completedAt' },
  expire: { from: ['validating', 'in_progress'], to: 'expired', at: 'expiredAt' },
  cancel: { from: ['cancelling'], to: 'cancelled', at: 'cancelledAt' },
} as const satisfies Record<string, { from: readonly BatchStatus[]; to: BatchStatus; at: keyof BatchEntity; onlyRunning?: boolean }>;

export type Transition = keyof typeof TRANSITIONS;

/** Statuses a batch can still leave (the source of some transition): it is not finished. */
export const LIVE_STATUSES: readonly BatchStatus[] = [...new Set(Object.values(TRANSITIONS).flatMap((t): readonly BatchStatus[] => t.from))];
/** Statuses no transition leaves. */
export const TERMINAL_STATUSES: readonly BatchStatus[] = BATCH_STATUSES.filter((s) => !LIVE_STATUSES.includes(s));
/** Statuses from which a batch may still expire: those its completion window governs. */
export const EXPIRABLE_STATUSES: readonly BatchStatus[] = TRANSITIONS.expire.from;

/**
 * Runs inside the transaction of a status change (webhooks record their event there: an outbox); it may
 * return work to run once the transaction has committed (enqueueing the delivery).
 */
export type TransitionHook = (
  manager: EntityManager,
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
    private readonly dataSource: DataSource,
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
    alongside?: (manager: EntityManager) => Promise<void>,
  ): Promise<BatchEntity | null> {
    const rule: { from: readonly BatchStatus[]; to: BatchStatus; at: keyof BatchEntity; onlyRunning?: boolean } = TRANSITIONS[transition];
    const { from, to, at } = rule;
    const afterCommit: (() => Promise<void>)[] = [];
    const updated = await this.dataSource.transaction(async (manager) => {
      const update = manager
        .createQueryBuilder()
        .update(BatchEntity)
        .set({ ...patch, status: to, [at]: this.clock.nowSeconds() })
        .where('id = :batchId', { batchId })
        .andWhere('status IN (:...from)', { from: [...from] });
      if (rule.onlyRunning) update.andWhere('stop_reason IS NULL');
      const result = await update.execute();
      if (!result.affected) return null;
      if (alongside) await alongside(manager);
      const batch = await manager.findOneByOrFail(BatchEntity, { id: batchId });
      for (const hook of this.hooks) {
        const then = await hook(manager, { batch: toBatchObject(batch), accountId: batch.accountId, transition });
        if (then) afterCommit.push(then);
      }
      return batch;
    });
    for (const then of afterCommit) await then();
    return updated;
  }
}
