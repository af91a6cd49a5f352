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
