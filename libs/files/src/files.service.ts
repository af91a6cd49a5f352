import { ApiError, Clock, DEFAULT_BATCH_ENDPOINT, IdGenerator, ListObject, toListPage } from '@app/core';
import { Injectable, StreamableFile } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { EntityManager, Repository } from 'typeorm';
import { ListFilesQuery } from './dto/list-files.query';
import { FileEntity } from './entities/file.entity';
import { BatchInputFile, DeletedFile, FileInUseCheck, FileObject } from './file.types';
import { FileStorage } from './storage/file-storage';
import { dataKey, indexKey } from './storage/keys';
import type { StoredUpload } from './upload-storage.engine';
import type { LineIndexEntry } from './validation/jsonl-scanner';

@Injectable()
export class FilesService {
  private readonly inUseChecks: FileInUseCheck[] = [];

  constructor(
    @InjectRepository(FileEntity) private readonly files: Repository<FileEntity>,
    private readonly storage: FileStorage,
    private readonly ids: IdGenerator,
    private readonly clock: Clock,
  ) {}

  /** Lets another module (batches) veto deleting a file it still needs. */
  registerInUseCheck(check: FileInUseCheck): void {
    this.inUseChecks.push(check);
  }

  async upload(accountId: string, upload: StoredUpload | undefined, purpose: unknown): Promise<FileObject> {
    if (!upload) throw new ApiError('missing_file', "The multipart field 'file' is required", 'file');
    if (purpose !== 'batch') {
      const message = purpose === undefined ? "'purpose' is required and must be 'batch'" : `Invalid purpose '${String(purpose)}': uploads must use 'batch'`;
      throw new ApiError('invalid_purpose', message, 'purpose');
    }
    const entity = this.files.create({
      id: upload.fileId,
      accountId,
      filename: storedFilename(upload.originalname),
      purpose: 'batch',
      bytes: upload.size,
      status: 'processed',
      createdAt: this.clock.nowSeconds(),
      expiresAt: null,
      storageKey: dataKey(upload.fileId),
      lineCount: upload.summary.lineCount,
      models: upload.summary.models,
      endpoints: upload.summary.endpoints,
      validationErrors: upload.summary.errors,
    });
    return toFileObject(await this.files.save(entity));
  }

  /** Removes the stored bytes of an upload that was refused after it was stored (DiscardUploadOnError). */
  discardUpload(fileId: string): Promise<void> {
    return this.removeStored(fileId);
  }

  async list(accountId: string, query: ListFilesQuery): Promise<ListObject<FileObject>> {
    const limit = query.limit ?? 10000;
    const order = query.order ?? 'desc';
    const qb = this.files.createQueryBuilder('f').where('f.account_id = :accountId', { accountId });
    if (query.purpose) qb.andWhere('f.purpose = :purpose', { purpose: query.purpose });
    if (query.after) {
      const cursor = await this.find(accountId, query.after, 'after');
      qb.andWhere(order === 'desc' ? 'f.seq < :seq' : 'f.seq > :seq', { seq: cursor.seq });
    }
    const rows = await qb
      .orderBy('f.seq', order === 'desc' ? 'DESC' : 'ASC')
      .take(limit + 1)
      .getMany();
    return toListPage(rows.map(toFileObject), limit);
  }

  async get(accountId: string, id: string): Promise<FileObject> {
    return toFileObject(await this.find(accountId, id));
  }

  async content(accountId: string, id: string): Promise<StreamableFile> {
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
    for (const check of this.inUseChecks) {
      const user = await check(file.id);
      if (user) throw new ApiError('file_in_use', `File '${id}' is in use by ${user}, which has not finished`, 'file_id');
    }
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

  /** Records a stored generated file inside the caller's transaction; recording it again replaces the row. */
  async recordGenerated(manager: EntityManager, file: { fileId: string; accountId: string; filename: string; bytes: number }): Promise<void> {
    const repo = manager.getRepository(FileEntity);
    await repo.delete({ id: file.fileId });
    await repo.insert({
      id: file.fileId,
      accountId: file.accountId,
      filename: file.filename,
      purpose: 'batch_output',
      bytes: file.bytes,
      status: 'processed',
      createdAt: this.clock.nowSeconds(),
      expiresAt: null,
      storageKey: dataKey(file.fileId),
      lineCount: 0,
      models: null,
      endpoints: null,
      validationErrors: null,
    });
  }

  /** Readiness: the storage accepts writes. */
  checkStorage(): Promise<void> {
    return this.storage.checkWritable();
  }

  newFileId(): string {
    return this.ids.next('file');
  }

  private async find(accountId: string, id: string, param: string | null = null): Promise<FileEntity> {
    const file = await this.files.findOneBy({ id, accountId });
    if (!file) throw ApiError.notFound('file', id, param);
    return file;
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
