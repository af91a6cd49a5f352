import { BatchProgress, BatchRun, BatchRuns } from '@app/batches';
import { Clock } from '@app/core';
import { FilesService } from '@app/files';
import { Transaction, UnitOfWork } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { FinishedRow, PendingRow, RequestRowsRepository, ResultRow } from './request-rows.repository';

export type { FinishedRow, PendingRow, ResultRow } from './request-rows.repository';

const NO_PROGRESS: BatchProgress = { completed: 0, failed: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 };

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
  ) {}

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
    const byLine = new Map(finished.map(({ line, outcome }) => [line, outcome]));
    await this.unitOfWork.run(async (tx) => {
      const updated = await this.rows.finishIn(tx, batchId, finished, this.clock.nowSeconds());
      const progress = { ...NO_PROGRESS };
      for (const line of updated) {
        const outcome = byLine.get(line)!;
        if (outcome.ok) progress.completed += 1;
        else progress.failed += 1;
        progress.promptTokens += outcome.promptTokens;
        progress.completionTokens += outcome.completionTokens;
        progress.cachedTokens += outcome.cachedTokens;
        progress.reasoningTokens += outcome.reasoningTokens;
      }
      if (updated.length > 0) await this.batches.addProgress(tx, batchId, progress);
      if (alongside) await alongside(tx, progress);
    });
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
