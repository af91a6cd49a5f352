import { ApiError, Clock, DEFAULT_BATCH_ENDPOINT, ListObject, toListPage } from '@app/core';
import { Transaction } from '@app/persistence';
import { Injectable, Logger, StreamableFile } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Repository } from 'typeorm';
import { ListFilesQuery } from './dto/list-files.query';
import { FileEntity } from './entities/file.entity';
import { BatchInputFile, DeletedFile, FileInUseCheck, FileObject, GeneratedFile } from './file.types';
import { ExpiredFile, FilesRepository } from './files.repository';
import { expiresAfterSeconds } from './retention';
import { FileStorage } from './storage/file-storage';
import { dataKey, indexKey } from './storage/keys';
import type { StoredUpload } from './upload-storage.engine';
import type { LineIndexEntry } from './validation/jsonl-scanner';
import { CountAborted, TokenCounter } from './tokens/token-counter';

/** The multipart fields of an upload other than the file, as multer parses them (`expires_after[seconds]` nested). */
export interface UploadFields {
  purpose?: unknown;
  expires_after?: unknown;
}

/** What one pass over the expired files did. */
export interface ExpirySweep {
  /** Files deleted (bytes, line index and row), by purpose. */
  deleted: Record<string, number>;
  /** Stored bytes freed. */
  bytes: number;
  /** Expired files kept because an unfinished batch still needs them. */
  inUse: number;
}

/**
 * How long after `expires_at` the sweeper waits before deleting a file: a batch created from the file
 * just before it expired may not be recorded yet, and the in-use check would miss it.
 */
const SWEEP_GRACE_SECONDS = 60;
const SWEEP_PAGE = 200;
/** A token count pending for longer than this was left by a process that stopped: the file sweeper counts it again. */
const STALLED_COUNT_SECONDS = 120;
const STALLED_COUNTS_PER_SWEEP = 4;
/** How long a create waits for a file's token count before it answers 409 (retry later). */
export const TOKEN_ESTIMATE_TIMEOUT_MS = 120_000;

@Injectable()
export class FilesService {
  private readonly logger = new Logger(FilesService.name);
  private readonly inUseChecks: FileInUseCheck[] = [];
  /** The counts this process is running, by file id. */
  private readonly counting = new Map<string, Promise<number>>();

  constructor(
    @InjectRepository(FileEntity) private readonly files: Repository<FileEntity>,
    private readonly queries: FilesRepository,
    private readonly storage: FileStorage,
    private readonly clock: Clock,
    private readonly tokens: TokenCounter,
  ) {}

  /** Lets another module (batches) veto deleting a file it still needs. */
  registerInUseCheck(check: FileInUseCheck): void {
    this.inUseChecks.push(check);
  }

  async upload(accountId: string, upload: StoredUpload | undefined, fields: UploadFields | undefined): Promise<FileObject> {
    if (!upload) throw new ApiError('missing_file', "The multipart field 'file' is required", 'file');
    const purpose = fields?.purpose;
    if (purpose !== 'batch') {
      const message =
        purpose === undefined ? "'purpose' is required and must be 'batch'" : `Invalid purpose ${JSON.stringify(purpose)}: uploads must use 'batch'`;
      throw new ApiError('invalid_purpose', message, 'purpose');
    }
    const expiresAfter = expiresAfterSeconds(fields?.expires_after, 'expires_after');
    const createdAt = this.clock.nowSeconds();
    const entity = this.files.create({
      id: upload.fileId,
      accountId,
      filename: storedFilename(upload.originalname),
      purpose: 'batch',
      bytes: upload.size,
      status: 'processed',
      createdAt,
      expiresAt: createdAt + expiresAfter,
      storageKey: dataKey(upload.fileId),
      lineCount: upload.summary.lineCount,
      models: upload.summary.models,
      endpoints: upload.summary.endpoints,
      validationErrors: upload.summary.errors,
      inputTokensEstimate: null,
      tokenCountState: 'pending',
    });
    const saved = toFileObject(await this.files.save(entity));
    // Counted after the answer, in the worker thread: the upload is not slowed by the tokenizer.
    this.countTokens(saved.id).catch((err: unknown) => {
      if (err instanceof CountAborted) this.logger.debug({ fileId: saved.id }, err.message);
      else this.logger.error({ err, fileId: saved.id }, 'Counting the input tokens failed');
    });
    return saved;
  }

  /**
   * The input tokens of an uploaded batch file, waiting for the count when it is still running (here, or
   * in the process that took the upload: a count this process does not run, it runs itself; both write
   * the same figure). Answers 409 when the count takes longer than `timeoutMs`.
   */
  async tokenEstimate(fileId: string, timeoutMs = TOKEN_ESTIMATE_TIMEOUT_MS): Promise<number> {
    const row = await this.files.findOne({ where: { id: fileId }, select: { id: true, inputTokensEstimate: true, tokenCountState: true } });
    if (!row) throw ApiError.notFound('file', fileId, 'input_file_id');
    if (row.tokenCountState === 'counted' && row.inputTokensEstimate !== null) return row.inputTokensEstimate;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ApiError('conflict', `The input tokens of file '${fileId}' are still being counted; retry shortly`, 'input_file_id')),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.countTokens(fileId), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Removes the stored bytes of an upload that was refused after it was stored (DiscardUploadOnError). */
  discardUpload(fileId: string): Promise<void> {
    return this.removeStored(fileId);
  }

  /** The account's files that have not expired; `purpose` filters (a purpose no file has lists nothing). */
  async list(accountId: string, query: ListFilesQuery): Promise<ListObject<FileObject>> {
    const limit = query.limit ?? 10000;
    const order = query.order ?? 'desc';
    const afterSeq = query.after ? (await this.find(accountId, query.after, 'after')).seq : undefined;
    const rows = await this.queries.listPage(accountId, { purpose: query.purpose, afterSeq, order, limit, now: this.clock.nowSeconds() });
    return toListPage(rows.map(toFileObject), limit);
  }

  /** The account's file; `accountId` null: any account's (the admin API). */
  async get(accountId: string | null, id: string, param: string | null = null): Promise<FileObject> {
    return toFileObject(await this.find(accountId, id, param));
  }

  /** The file's bytes, streamed as an attachment; `accountId` null: any account's (the console's signed download links). */
  async content(accountId: string | null, id: string): Promise<StreamableFile> {
    const file = await this.find(accountId, id);
    if (!(await this.storage.exists(file.storageKey))) throw ApiError.notFound('file content', id);
    return new StreamableFile(this.storage.read(file.storageKey), {
      type: 'application/jsonl',
      length: file.bytes,
      disposition: contentDisposition(file.filename),
    });
  }

  async delete(accountId: string, id: string): Promise<DeletedFile> {
    const file = await this.find(accountId, id);
    const user = await this.usedBy(file.id);
    if (user) throw new ApiError('file_in_use', `File '${id}' is in use by ${user}, which has not finished`, 'file_id');
    await this.files.delete({ seq: file.seq });
    await this.removeStored(file.id);
    return { id: file.id, object: 'file', deleted: true };
  }

  /** The input file of a new batch: it must be the account's own, of purpose `batch`. */
  async getBatchInput(accountId: string, id: string): Promise<BatchInputFile> {
    const file = await this.find(accountId, id, 'input_file_id');
    if (file.purpose !== 'batch') {
      throw new ApiError('invalid_request_error', `File '${id}' has purpose '${file.purpose}'; a batch needs purpose 'batch'`, 'input_file_id');
    }
    return {
      id: file.id,
      accountId,
      lineCount: file.lineCount,
      models: file.models ?? [],
      // Files uploaded before endpoints were recorded could only name chat completions.
      endpoints: file.endpoints ?? [{ url: DEFAULT_BATCH_ENDPOINT, line: 1 }],
      errors: file.validationErrors ?? [],
      inputTokensEstimate: file.tokenCountState === 'counted' ? file.inputTokensEstimate : null,
    };
  }

  /** The line index of an input file, entry by entry, streamed. */
  async *readLineIndex(fileId: string): AsyncGenerator<LineIndexEntry> {
    const lines = createInterface({ input: this.storage.read(indexKey(fileId)), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line) yield JSON.parse(line) as LineIndexEntry;
    }
  }

  /** One request line of an input file, by the offset and length its index recorded. */
  readLine(fileId: string, offset: number, length: number): Promise<Buffer> {
    return this.storage.readAt(dataKey(fileId), offset, length);
  }

  /** Streams a generated file's bytes (a batch's output or errors) into storage; returns the byte count. */
  storeGenerated(fileId: string, source: Readable): Promise<number> {
    return this.storage.write(dataKey(fileId), source);
  }

  async discardGenerated(fileId: string): Promise<void> {
    await this.storage.remove(dataKey(fileId));
  }

  /**
   * Records a stored generated file inside the caller's transaction; recording it again replaces the row.
   * It expires `expiresAfterSeconds` after its creation (the batch's `output_expires_after`).
   */
  async recordGenerated(tx: Transaction, file: GeneratedFile): Promise<void> {
    const createdAt = this.clock.nowSeconds();
    await this.queries.replaceIn(tx, {
      id: file.fileId,
      accountId: file.accountId,
      filename: file.filename,
      purpose: 'batch_output',
      bytes: file.bytes,
      status: 'processed',
      createdAt,
      expiresAt: createdAt + file.expiresAfterSeconds,
      storageKey: dataKey(file.fileId),
      lineCount: 0,
      models: null,
      endpoints: null,
      validationErrors: null,
      inputTokensEstimate: null,
      tokenCountState: null,
    });
  }

  /**
   * Deletes the files whose `expires_at` has passed (their stored bytes, line index and row), except
   * those an unfinished batch still needs (the in-use checks): those are deleted by a later sweep, once
   * the batch has ended. Bytes go first, so a crash in between leaves an expired row (invisible, swept
   * again), never bytes without a row.
   */
  async deleteExpired(): Promise<ExpirySweep> {
    const cutoff = this.clock.nowSeconds() - SWEEP_GRACE_SECONDS;
    const sweep: ExpirySweep = { deleted: {}, bytes: 0, inUse: 0 };
    let after: ExpiredFile | null = null;
    for (;;) {
      const page = await this.queries.expired(cutoff, after, SWEEP_PAGE);
      for (const file of page) {
        if (await this.usedBy(file.id)) {
          sweep.inUse += 1;
          continue;
        }
        await this.removeStored(file.id);
        if (await this.queries.deleteExpired(file.seq, cutoff)) {
          sweep.deleted[file.purpose] = (sweep.deleted[file.purpose] ?? 0) + 1;
          sweep.bytes += file.bytes;
        }
      }
      if (page.length < SWEEP_PAGE) return sweep;
      after = page[page.length - 1];
    }
  }

  /**
   * Counts the files whose count was left pending, by a process that stopped before it ended (a few per
   * sweep, oldest first); counting one that is in fact still running elsewhere writes the same figure.
   * Returns how many it counted.
   */
  async countStalled(): Promise<number> {
    const ids = await this.queries.stalledCounts(this.clock.nowSeconds() - STALLED_COUNT_SECONDS, STALLED_COUNTS_PER_SWEEP);
    let counted = 0;
    for (const id of ids) {
      if (this.counting.has(id)) continue;
      await this.countTokens(id);
      counted += 1;
    }
    return counted;
  }

  /** Readiness: the storage accepts writes. */
  checkStorage(): Promise<void> {
    return this.storage.checkWritable();
  }

  /** Counts a file's input tokens once per process at a time, and records the count on its row. */
  private countTokens(fileId: string): Promise<number> {
    let running = this.counting.get(fileId);
    if (!running) {
      running = (async () => {
        const started = performance.now();
        const { tokens, lines } = await this.tokens.count(this.storage.read(dataKey(fileId)));
        await this.queries.recordTokenEstimate(fileId, tokens);
        const ms = Math.round(performance.now() - started);
        this.logger.log({ fileId, tokens, lines, ms }, 'Input tokens counted');
        return tokens;
      })().finally(() => this.counting.delete(fileId));
      this.counting.set(fileId, running);
    }
    return running;
  }

  /** The account's file (any account's when null), unless it has expired: an expired file is not found on any route, swept or not. */
  private async find(accountId: string | null, id: string, param: string | null = null): Promise<FileEntity> {
    const file = await this.files.findOneBy(accountId === null ? { id } : { id, accountId });
    if (!file || (file.expiresAt !== null && file.expiresAt <= this.clock.nowSeconds())) throw ApiError.notFound('file', id, param);
    return file;
  }

  /** What still needs the file (an unfinished batch), or null. */
  private async usedBy(fileId: string): Promise<string | null> {
    for (const check of this.inUseChecks) {
      const user = await check(fileId);
      if (user) return user;
    }
    return null;
  }

  private async removeStored(fileId: string): Promise<void> {
    await Promise.all([this.storage.remove(dataKey(fileId)), this.storage.remove(indexKey(fileId))]);
  }
}

function toFileObject(file: FileEntity): FileObject {
  return {
    id: file.id,
    object: 'file',
    bytes: file.bytes,
    created_at: file.createdAt,
    filename: file.filename,
    purpose: file.purpose,
    status: file.status,
    expires_at: file.expiresAt,
    status_details: null,
    input_tokens_estimate: file.inputTokensEstimate,
  };
}

/**
 * The client's filename as kept: control characters (NUL among them, which PostgreSQL refuses in text)
 * become "_", and it is cut to 255 characters, as file systems do.
 */
function storedFilename(name: string | undefined): string {
  // eslint-disable-next-line no-control-regex
  const clean = (name ?? '').replace(/[\u0000-\u001f\u007f]/g, '_').slice(0, 255);
  return clean || 'upload.jsonl';
}

/** An attachment header that survives any filename: an ASCII fallback plus the RFC 5987 UTF-8 form. */
function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}
