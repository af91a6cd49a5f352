import { APP_CONFIG, AppConfig, IdGenerator } from '@app/core';
import { Inject, Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import { FileObject } from './file.types';
import { FilesService } from './files.service';
import { FileStorage } from './storage/file-storage';
import { dataKey, indexKey } from './storage/keys';
import { JsonlScanner } from './validation/jsonl-scanner';

/**
 * Writes a new `purpose=batch` input file of an account from lines the gateway produces (a rerun's
 * lines), through the same scanner, line index and file row as an upload: the file can be listed,
 * downloaded and used like any other, and it is never held whole in memory.
 */
@Injectable()
export class BatchInputWriter {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly storage: FileStorage,
    private readonly ids: IdGenerator,
    private readonly files: FilesService,
  ) {}

  /** `lines` yields request lines, each ending with a line break. Nothing is left behind when it fails. */
  async write(accountId: string, filename: string, lines: AsyncIterable<Buffer>): Promise<FileObject> {
    const fileId = this.ids.next('file');
    const scanner = new JsonlScanner(this.config.limits);
    const source = Readable.from(lines, { objectMode: false });
    const fed = new Promise<void>((resolve, reject) => {
      scanner.once('finish', resolve);
      scanner.once('error', reject);
      source.once('error', (err) => scanner.destroy(err));
      source.pipe(scanner);
    });
    const [scan, data, index] = await Promise.allSettled([
      fed,
      this.storage.write(dataKey(fileId), scanner),
      this.storage.write(indexKey(fileId), scanner.index),
    ]);
    const failure = [scan, data, index].find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) {
      source.destroy();
      await this.files.discardUpload(fileId);
      throw failure.reason;
    }
    const size = (data as PromiseFulfilledResult<number>).value;
    try {
      return await this.files.upload(accountId, { fileId, originalname: filename, size, summary: scanner.summary() }, { purpose: 'batch' });
    } catch (err) {
      await this.files.discardUpload(fileId);
      throw err;
    }
  }
}
