import { APP_CONFIG, AppConfig, IdGenerator } from '@app/core';
import { Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import type { StorageEngine } from 'multer';
import type { Readable } from 'node:stream';
import { FileStorage } from './storage/file-storage';
import { dataKey, indexKey } from './storage/keys';
import { JsonlScanner, ScanSummary } from './validation/jsonl-scanner';

/** What the upload engine hands to the files service in place of multer's usual file info. */
export interface StoredUpload {
  fileId: string;
  originalname: string;
  size: number;
  summary: ScanSummary;
}

/**
 * A multer storage engine that streams the uploaded part through the JSONL scanner straight into
 * file storage: the upload is never held whole in memory, and a rejected one leaves nothing behind.
 */
@Injectable()
export class UploadStorageEngine implements StorageEngine {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly storage: FileStorage,
    private readonly ids: IdGenerator,
  ) {}

  _handleFile(_req: Request, file: Express.Multer.File & { stream: Readable }, callback: (error?: unknown, info?: Partial<StoredUpload>) => void): void {
    const fileId = this.ids.next('file');
    const scanner = new JsonlScanner(this.config.limits);
    void Promise.allSettled([
      this.feed(file.stream, scanner),
      this.storage.write(dataKey(fileId), scanner),
      this.storage.write(indexKey(fileId), scanner.index),
    ]).then(async ([scan, data, index]) => {
      const failure = [scan, data, index].find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure) {
        await this.remove(fileId);
        return callback(failure.reason);
      }
      const size = (data as PromiseFulfilledResult<number>).value;
      callback(null, { fileId, size, summary: scanner.summary() });
    });
  }

  /**
   * Pipes the part into the scanner without ever destroying multer's stream: multer answers as soon as
   * that stream errors, which would be before the stored pieces are removed. On a scanner error the
   * part is unpiped and drained instead, and multer waits for our callback.
   */
  private feed(source: Readable, scanner: JsonlScanner): Promise<void> {
    return new Promise((resolve, reject) => {
      scanner.once('finish', resolve);
      scanner.once('error', (err) => {
        source.unpipe(scanner);
        source.resume();
        reject(err);
      });
      // A client that goes away mid-upload ends the part without 'end': the scan fails and cleans up.
      source.once('error', (err) => scanner.destroy(err));
      source.once('close', () => {
        if (!source.readableEnded) scanner.destroy(new Error('The upload was cut off'));
      });
      source.pipe(scanner);
    });
  }

  _removeFile(_req: Request, file: Express.Multer.File & Partial<StoredUpload>, callback: (error: Error | null) => void): void {
    if (!file.fileId) return callback(null);
    this.remove(file.fileId).then(() => callback(null), callback);
  }

  private async remove(fileId: string): Promise<void> {
    await Promise.all([this.storage.remove(dataKey(fileId)), this.storage.remove(indexKey(fileId))]);
  }
}
