import { ApiError } from '@app/core';
import { BatchInputWriter, FilesService } from '@app/files';
import { Injectable } from '@nestjs/common';
import { BatchObject } from './batch.types';
import { BatchesRepository } from './batches.repository';
import { BatchesService } from './batches.service';
import { RerunBatchDto } from './dto/rerun-batch.dto';
import { BatchEntity, BatchStatus } from './entities/batch.entity';

/**
 * What a rerun needs of a finished batch's lines. Execution answers (the request rows and the line
 * codes are its own) and registers it once, as webhooks registers the callback_url rule.
 */
export interface RerunLines {
  /** The line codes a rerun may select. */
  readonly selectable: readonly string[];
  /** The codes selected when a rerun names none: lines that never ran or failed for a reason outside the request. */
  readonly byDefault: readonly string[];
  /** Line codes a rerun never selects, each with the reason. */
  readonly refused: Readonly<Record<string, string>>;
  /** How many failed lines of the batch ended with one of `codes`. */
  count(batchId: string, codes: readonly string[]): Promise<number>;
  /** Those lines of the batch's input file, in line order, each ending with a line break, read by their stored offsets. */
  read(batchId: string, inputFileId: string, codes: readonly string[]): AsyncIterable<Buffer>;
}

/** Statuses a batch can be rerun from: it has ended and its lines ran, or were stopped. */
const RERUNNABLE: readonly BatchStatus[] = ['completed', 'expired', 'cancelled'];
const MAX_METADATA_KEYS = 16;
export const RERUN_OF_KEY = 'rerun_of';

/**
 * Reruns: a new batch of the same account from the lines of a finished batch that failed or never ran.
 * The lines are streamed from the original input by their stored offsets into a new input file (scanned
 * like an upload), and the new batch goes through the same create as any other (checks, quotas, routing).
 */
@Injectable()
export class BatchReruns {
  private lines: RerunLines | null = null;

  constructor(
    private readonly batches: BatchesService,
    private readonly repository: BatchesRepository,
    private readonly files: FilesService,
    private readonly writer: BatchInputWriter,
  ) {}

  registerLines(lines: RerunLines): void {
    this.lines = lines;
  }

  /** `accountId` null: an operator's rerun (admin API), for the batch's own account. */
  async rerun(accountId: string | null, id: string, dto: RerunBatchDto | undefined): Promise<BatchObject> {
    if (!this.lines) throw new Error('No rerun line source is registered (ExecutionModule)');
    const lines = this.lines;
    const original = await this.find(accountId, id);
    const codes = this.selection(lines, dto?.error_codes);
    if (!RERUNNABLE.includes(original.status)) {
      const why =
        original.status === 'failed'
          ? 'it failed before any of its lines ran; fix its input and create a new batch'
          : `it is ${original.stopReason === 'expired' ? 'expiring' : original.status}; only a completed, expired or cancelled batch can be rerun`;
      throw new ApiError('batch_not_rerunnable', `Batch '${id}' cannot be rerun: ${why}`, 'batch_id');
    }
    if ((await lines.count(original.id, codes)) === 0) {
      throw new ApiError(
        'batch_nothing_to_rerun',
        `Batch '${id}' has no failed lines with the codes ${codes.join(', ')}`,
        dto?.error_codes ? 'error_codes' : 'batch_id',
      );
    }
    try {
      await this.files.getBatchInput(original.accountId, original.inputFileId);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'not_found') {
        throw new ApiError(
          'batch_not_rerunnable',
          `Batch '${id}' cannot be rerun: its input file '${original.inputFileId}' has expired or was deleted`,
          'batch_id',
        );
      }
      throw err;
    }
    const input = await this.writer.write(original.accountId, `${original.id}_rerun.jsonl`, lines.read(original.id, original.inputFileId, codes));
    try {
      return await this.batches.create(original.accountId, {
        input_file_id: input.id,
        endpoint: original.endpoint,
        completion_window: original.completionWindow,
        metadata: rerunMetadata(original.metadata, original.id),
        output_expires_after: { anchor: 'created_at', seconds: original.outputExpiresAfterSeconds },
        callback_url: original.callbackUrl,
      });
    } catch (err) {
      // The new input is of no use without its batch (a quota or routing refusal at create).
      await this.files.delete(original.accountId, input.id).catch(() => undefined);
      throw err;
    }
  }

  /** The codes asked for, each one a line code a rerun can select; none asked for: the default selection. */
  private selection(lines: RerunLines, asked: string[] | undefined): readonly string[] {
    if (!asked) return lines.byDefault;
    if (asked.length === 0)
      throw new ApiError('invalid_request_error', 'error_codes must name at least one code; omit it for the default selection', 'error_codes');
    for (const code of asked) {
      const refused = lines.refused[code];
      if (refused) throw new ApiError('invalid_request_error', `Lines that ended with '${code}' cannot be rerun: ${refused}`, 'error_codes');
      if (!lines.selectable.includes(code)) {
        throw new ApiError('invalid_request_error', `Unknown line error code '${code}'; a rerun can select: ${lines.selectable.join(', ')}`, 'error_codes');
      }
    }
    return [...new Set(asked)];
  }

  private async find(accountId: string | null, id: string): Promise<BatchEntity> {
    const owner = accountId ?? (await this.repository.getRun(id))?.accountId;
    const batch = owner ? await this.repository.findOfAccount(owner, id) : null;
    if (!batch) throw ApiError.notFound('batch', id);
    return batch;
  }
}

/**
 * The original's metadata with `rerun_of` naming it (a rerun of a rerun names the batch it reran). At
 * 16 keys already, the original's last keys give way: the link back is what a rerun must carry.
 */
export function rerunMetadata(original: Record<string, string> | null, originalId: string): Record<string, string> {
  const kept = Object.entries(original ?? {}).filter(([key]) => key !== RERUN_OF_KEY);
  return Object.fromEntries([...kept.slice(0, MAX_METADATA_KEYS - 1), [RERUN_OF_KEY, originalId]]);
}
