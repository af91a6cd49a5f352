import { AccountUsage } from '@app/accounts';
import { BatchProgress, BatchRun, BatchRuns, SpendLimits } from '@app/batches';
import { Clock, costMicros, Metrics, utcDay } from '@app/core';
import { FilesService } from '@app/files';
import { Transaction, UnitOfWork } from '@app/persistence';
import { Injectable, Logger } from '@nestjs/common';
import { FinishedRow, PendingRow, RequestRowsRepository, ResultRow } from './request-rows.repository';

export type { FinishedRow, PendingRow, ResultRow } from './request-rows.repository';

const NO_PROGRESS: BatchProgress = { completed: 0, failed: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0, costMicros: 0 };

/**
 * A batch's request rows, one per input line, and the batch counters that follow them: a row is finished
 * once, and it is counted in the same transaction that finishes it, so no line counts twice.
 */
@Injectable()
export class RequestRowsService {
  constructor(
    private readonly rows: RequestRowsRepository,
    private readonly batches: BatchRuns,
    private readonly unitOfWork: UnitOfWork,
    private readonly clock: Clock,
    private readonly files: FilesService,
    private readonly usage: AccountUsage,
    private readonly spendLimits: SpendLimits,
    private readonly metrics: Metrics,
  ) {}

  private readonly logger = new Logger(RequestRowsService.name);
  /** What finish needs of a batch: fixed at create (owner, model, route, locked prices), so kept once read. */
  private readonly pricing = new Map<string, BatchRun>();

  /** Request rows exist for every line (created again after a crash; existing rows are kept). */
  async ensureRows(batch: BatchRun): Promise<void> {
    let created: number;
    try {
      created = await this.rows.createRows(batch.id, this.files.readLineIndex(batch.inputFileId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new InputUnreadableError(`The line index of input file ${batch.inputFileId} is missing`);
      }
      throw err;
    }
    if (created !== batch.total) {
      throw new InputUnreadableError(`The input file ${batch.inputFileId} has ${created} indexed lines; the batch expects ${batch.total}`);
    }
  }

  /**
   * Finishes rows and adds them to the batch counters in one transaction. A row already finished (by a
   * retry, or by cancel/expiry) is left alone and not counted again: only the lines the UPDATE returns
   * are counted. `alongside` runs in the same transaction with what was counted.
   */
  async finish(batchId: string, finished: FinishedRow[], alongside?: (tx: Transaction, counted: BatchProgress) => Promise<void>): Promise<void> {
    if (finished.length === 0) return;
    const batch = await this.pricingOf(batchId);
    // Each line's cost from the usage its upstream reported, at the prices locked on the batch; written
    // with its result, so it counts exactly when the row leaves pending: once.
    const priced = finished.map((row) => ({
      ...row,
      costMicros: batch ? costMicros(row.outcome.promptTokens, row.outcome.completionTokens, batch.inputPricePerMtok, batch.outputPricePerMtok) : 0,
    }));
    const byLine = new Map(priced.map((row) => [row.line, row]));
    const now = this.clock.nowSeconds();
    const progress = await this.unitOfWork.run(async (tx) => {
      const updated = await this.rows.finishIn(tx, batchId, priced, now);
      const progress = { ...NO_PROGRESS };
      for (const line of updated) {
        const { outcome, costMicros } = byLine.get(line)!;
        if (outcome.ok) progress.completed += 1;
        else progress.failed += 1;
        progress.promptTokens += outcome.promptTokens;
        progress.completionTokens += outcome.completionTokens;
        progress.cachedTokens += outcome.cachedTokens;
        progress.reasoningTokens += outcome.reasoningTokens;
        progress.costMicros += costMicros;
      }
      if (updated.length > 0) {
        await this.batches.addProgress(tx, batchId, progress);
        if (batch) {
          await this.usage.record(tx, {
            accountId: batch.accountId,
            day: utcDay(now),
            model: batch.model,
            providerId: batch.providerId,
            requests: updated.length,
            promptTokens: progress.promptTokens,
            completionTokens: progress.completionTokens,
            cachedTokens: progress.cachedTokens,
            costMicros: progress.costMicros,
          });
        }
      }
      if (alongside) await alongside(tx, progress);
      return progress;
    });
    if (batch && progress.completed + progress.failed > 0) await this.counted(batch, progress);
  }

  /** After commit: the metrics, and the account's spend limit (which may stop its running batches). */
  private async counted(batch: BatchRun, progress: BatchProgress): Promise<void> {
    const labels = { account: batch.accountId, model: batch.model, provider: batch.providerId };
    this.metrics.tokens.inc({ ...labels, kind: 'prompt' }, progress.promptTokens);
    this.metrics.tokens.inc({ ...labels, kind: 'completion' }, progress.completionTokens);
    if (batch.costCurrency) this.metrics.cost.inc({ ...labels, currency: batch.costCurrency }, progress.costMicros / 1_000_000);
    if (progress.costMicros <= 0) return;
    try {
      await this.spendLimits.enforce(batch.accountId);
    } catch (err) {
      // The results are recorded; the next finished lines check the limit again.
      this.logger.error({ batchId: batch.id, err: (err as Error).message }, 'Spend limit check failed');
    }
  }

  private async pricingOf(batchId: string): Promise<BatchRun | null> {
    const known = this.pricing.get(batchId);
    if (known) return known;
    const batch = await this.batches.get(batchId);
    if (!batch) return null;
    if (this.pricing.size >= 10_000) this.pricing.clear();
    this.pricing.set(batchId, batch);
    return batch;
  }

  /**
   * Ends every row still pending with `code` (cancel, expiry; or, within `lines`, a provider batch that
   * failed or left lines out), counted as failed. Returns how many.
   */
  failPending(
    batchId: string,
    code: string,
    message: string,
    lines?: { first: number; last: number },
    alongside?: (tx: Transaction, failed: number) => Promise<void>,
  ): Promise<number> {
    return this.unitOfWork.run(async (tx) => {
      const failed = await this.rows.failPendingIn(tx, batchId, { code, message, now: this.clock.nowSeconds() }, lines);
      if (failed > 0) await this.batches.addProgress(tx, batchId, { ...NO_PROGRESS, failed });
      if (alongside) await alongside(tx, failed);
      return failed;
    });
  }

  hasPending(batchId: string): Promise<boolean> {
    return this.rows.hasPending(batchId);
  }

  inRange(batchId: string, first: number, last: number): AsyncGenerator<PendingRow & { customId: string; pending: boolean }> {
    return this.rows.inRange(batchId, first, last);
  }

  inLineOrder(batchId: string): AsyncGenerator<ResultRow> {
    return this.rows.inLineOrder(batchId);
  }
}

/** The input file's stored bytes or line index cannot be read back: the batch cannot run. */
export class InputUnreadableError extends Error {}
