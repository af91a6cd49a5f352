import { AccountUsage } from '@app/accounts';
import { ApiError, costMicros, formatMicros } from '@app/core';
import { Transaction } from '@app/persistence';
import type { RouteLock } from '@app/routing';
import { Injectable, Logger } from '@nestjs/common';
import { BatchJobs } from './batch-jobs';
import { BatchStateMachine } from './batch-state-machine';
import { BatchesRepository } from './batches.repository';

/** The code of the lines a spend limit stopped, and of the batch's `errors` entry. */
export const SPEND_LIMIT_REACHED = 'spend_limit_reached';

/**
 * An account's monthly spend limit: refused at create when the batch's estimated cost would pass it, and
 * enforced while batches run (reaching it stops every running batch of the account, as a cancel does).
 * The month-to-date spend is read from the database, so it holds across API and worker processes.
 */
@Injectable()
export class SpendLimits {
  private readonly logger = new Logger(SpendLimits.name);

  constructor(
    private readonly usage: AccountUsage,
    private readonly batches: BatchesRepository,
    private readonly states: BatchStateMachine,
    private readonly jobs: BatchJobs,
  ) {}

  /** Whether a create must know its file's token estimate to check the spend limit. */
  async needsEstimate(accountId: string, route: RouteLock): Promise<boolean> {
    if (!route.inputPricePerMtok) return false;
    const spend = await this.usage.spend(accountId);
    return spend !== null && spend.limitMicros !== null;
  }

  /**
   * At create, inside the unit of work that holds the account's row lock (so concurrent creates are
   * counted one after another): the month-to-date spend, plus what the account's unfinished batches may
   * still cost by their estimates, plus this batch's estimate (its input tokens at the locked input price;
   * output tokens are not known before the lines run and count zero) must stay within the limit. A
   * batch whose estimate is not known yet (`estimate` null) is checked on the spend alone.
   */
  async checkCreate(tx: Transaction, accountId: string, estimate: number | null, route: RouteLock): Promise<void> {
    const spend = await this.usage.spend(accountId);
    if (!spend || spend.limitMicros === null) return;
    const cost = route.inputPricePerMtok && estimate !== null ? costMicros(estimate, 0, route.inputPricePerMtok, null) : 0;
    const reserved = await this.batches.reservedCostMicros(tx, accountId);
    if (spend.spentMicros >= spend.limitMicros || spend.spentMicros + reserved + cost > spend.limitMicros) {
      throw new ApiError(
        'spend_limit_exceeded',
        `The account's monthly spend limit is ${formatMicros(spend.limitMicros)}, ${formatMicros(spend.spentMicros)} is spent this month, ` +
          `its unfinished batches may cost ${formatMicros(reserved)} more, and this batch's estimated cost is ${formatMicros(cost)}`,
        'input_file_id',
      );
    }
  }

  /**
   * After costs were added: when the account has reached its limit, its running batches stop taking lines
   * and are finalized like a cancel, their unfinished lines ending with `spend_limit_reached`.
   */
  async enforce(accountId: string): Promise<void> {
    const spend = await this.usage.spend(accountId);
    if (!spend || spend.limitMicros === null || spend.spentMicros < spend.limitMicros) return;
    const error = {
      code: SPEND_LIMIT_REACHED,
      message: `The account reached its monthly spend limit (${formatMicros(spend.limitMicros)}); the lines not yet finished were not run`,
      param: null,
      line: null,
    };
    for (const id of await this.batches.runningOfAccount(accountId)) {
      const halted = await this.states.apply(id, 'requestCancel', { stopReason: 'spend_limit', errors: [error] });
      if (!halted) continue;
      this.logger.warn({ batchId: id, accountId, spentMicros: spend.spentMicros, limitMicros: spend.limitMicros }, 'Spend limit reached: batch stopped');
      await this.jobs.finalizeHalted(id);
    }
  }
}
