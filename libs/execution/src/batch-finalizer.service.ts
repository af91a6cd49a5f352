import { BatchRuns, BatchRun, BatchStateMachine, Transition } from '@app/batches';
import { FilesService } from '@app/files';
import { Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { BatchExecutors } from './batch-executors';
import { RequestRowsService, ResultRow } from './request-rows.service';
import { REQUEST_ERROR_CODES } from './upstream/upstream-client';

/** A stable id derived from a seed, so that finalizing again after a crash reuses the same ids. */
function stableId(prefix: string, seed: string): string {
  const digest = createHash('sha256').update(seed).digest();
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; out.length < 24; i++) out += alphabet[digest[i % digest.length] % 62];
  return prefix + out;
}

const STOPS: Record<'cancelled' | 'expired' | 'spend_limit', { code: string; message: string; transition: Transition }> = {
  cancelled: { code: REQUEST_ERROR_CODES.cancelled, message: 'The batch was cancelled before this request completed', transition: 'cancel' },
  expired: { code: REQUEST_ERROR_CODES.expired, message: 'The batch expired before this request completed', transition: 'expire' },
  // Stopped like a cancel (the batch ends cancelled), but its lines say why.
  spend_limit: {
    code: REQUEST_ERROR_CODES.spendLimit,
    message: 'The account reached its monthly spend limit before this request completed',
    transition: 'cancel',
  },
};

/**
 * Ends a batch: completed (every line finished), cancelled or expired (lines not finished become
 * error lines). Streams the request rows in line order into the output and error files, then records
 * the files and the final status in one transaction. Safe to run again after a crash.
 */
@Injectable()
export class BatchFinalizer {
  private readonly logger = new Logger(BatchFinalizer.name);

  constructor(
    private readonly batches: BatchRuns,
    private readonly states: BatchStateMachine,
    private readonly rows: RequestRowsService,
    private readonly files: FilesService,
    private readonly executors: BatchExecutors,
  ) {}

  async finalize(batchId: string): Promise<void> {
    const batch = await this.batches.get(batchId);
    if (!batch) return;
    const ending = await this.decide(batch);
    if (!ending) return;
    // A halting batch waits for what its executor still runs (live provider batches); the executor asks again.
    if (ending !== 'completed' && !(await this.executors.for(batch.execution).settled(batch))) return;
    const stop = ending === 'completed' ? null : STOPS[ending === 'cancelled' && batch.stopReason === 'spend_limit' ? 'spend_limit' : ending];
    if (stop) {
      await this.rows.ensureRows(batch);
      await this.rows.failPending(batchId, stop.code, stop.message);
    }
    const started = Date.now();
    const { outputFileId, errorFileId, outputBytes, errorBytes } = await this.writeFiles(batch);
    const transition: Transition = stop ? stop.transition : 'complete';
    const done = await this.states.apply(batchId, transition, { outputFileId, errorFileId }, async (manager) => {
      const generated = (fileId: string, kind: string, bytes: number) => ({
        fileId,
        accountId: batch.accountId,
        filename: `${batchId}_${kind}.jsonl`,
        bytes,
        expiresAfterSeconds: batch.outputExpiresAfterSeconds,
      });
      if (outputFileId) await this.files.recordGenerated(manager, generated(outputFileId, 'output', outputBytes));
      if (errorFileId) await this.files.recordGenerated(manager, generated(errorFileId, 'error', errorBytes));
    });
    if (done) {
      this.logger.log(
        { batchId, status: done.status, completed: done.completed, failed: done.failed, total: done.total, finalizeMs: Date.now() - started },
        'Batch finished',
      );
    }
  }

  /** Which end the batch is heading for, or null when it is not ready (or already ended). */
  private async decide(batch: BatchRun): Promise<'completed' | 'cancelled' | 'expired' | null> {
    switch (batch.status) {
      case 'cancelling':
        return 'cancelled';
      case 'finalizing':
        return 'completed';
      case 'validating':
        return batch.stopReason === 'expired' ? 'expired' : null;
      case 'in_progress': {
        if (batch.stopReason === 'expired') return 'expired';
        if (await this.rows.hasPending(batch.id)) return null;
        if (await this.states.apply(batch.id, 'finalize')) return 'completed';
        const now = await this.batches.get(batch.id);
        return now ? this.decide(now) : null;
      }
      default:
        return null;
    }
  }

  private async writeFiles(batch: BatchRun) {
    const outputFileId = stableId('file-', `${batch.id}:output`);
    const errorFileId = stableId('file-', `${batch.id}:error`);
    const output = new PassThrough();
    const errors = new PassThrough();
    const stored = Promise.all([this.files.storeGenerated(outputFileId, output), this.files.storeGenerated(errorFileId, errors)]);
    stored.catch(() => undefined);
    let outputLines = 0;
    let errorLines = 0;
    try {
      for await (const row of this.rows.inLineOrder(batch.id)) {
        const target = row.status === 'completed' ? output : errors;
        if (target === output) outputLines += 1;
        else errorLines += 1;
        if (!target.write(renderLine(batch.id, row) + '\n')) await once(target, 'drain');
      }
      output.end();
      errors.end();
    } catch (err) {
      output.destroy(err as Error);
      errors.destroy(err as Error);
      throw err;
    }
    const [outputBytes, errorBytes] = await stored;
    if (outputLines === 0) await this.files.discardGenerated(outputFileId);
    if (errorLines === 0) await this.files.discardGenerated(errorFileId);
    return {
      outputFileId: outputLines > 0 ? outputFileId : null,
      errorFileId: errorLines > 0 ? errorFileId : null,
      outputBytes,
      errorBytes,
    };
  }
}

/**
 * One line of the output or error file (formats in DESIGN section 3); the stored body is JSON text,
 * written as is. As OpenAI's: `error` is set only for a request that got no HTTP answer (timeout,
 * unreachable, cancelled, expired, …); one answered with an HTTP error keeps `response` and has `error: null`.
 */
export function renderLine(batchId: string, row: ResultRow): string {
  const id = JSON.stringify(stableId('batch_req_', `${batchId}:${row.line}`));
  const customId = JSON.stringify(row.customId);
  const response =
    row.statusCode === null
      ? 'null'
      : `{"status_code":${row.statusCode},"request_id":${JSON.stringify(row.upstreamRequestId ?? stableId('req_', `${batchId}:${row.line}`))},"body":${row.responseBody ?? 'null'}}`;
  const error = row.status === 'completed' || row.statusCode !== null ? 'null' : JSON.stringify({ code: row.errorCode, message: row.errorMessage });
  return `{"id":${id},"custom_id":${customId},"response":${response},"error":${error}}`;
}
