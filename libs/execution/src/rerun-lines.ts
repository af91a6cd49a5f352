import { BatchReruns, RerunLines } from '@app/batches';
import { FilesService } from '@app/files';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { LineReader } from './line-reader';
import { RequestRowsRepository } from './request-rows.repository';
import { REQUEST_ERROR_CODES } from './upstream/upstream-client';

const NEWLINE = Buffer.from('\n');

/**
 * Lines whose answer was about the request itself: an HTTP 4xx other than 429 (the request was refused as
 * it is) or an answer over the size limit. Running them again would most likely end the same way, so a
 * rerun takes them only when asked for by code.
 */
const ONLY_WHEN_ASKED: readonly string[] = [REQUEST_ERROR_CODES.clientError, REQUEST_ERROR_CODES.tooLarge];
/** Lines a rerun never takes. */
const REFUSED: Record<string, string> = {
  [REQUEST_ERROR_CODES.invalidLine]: 'the line itself is not a valid request and would be refused again; fix it and upload a new file',
};
const SELECTABLE = Object.values(REQUEST_ERROR_CODES).filter((code) => !(code in REFUSED));

/**
 * The lines of a finished batch a rerun takes (see BatchReruns): failed request rows, selected by their
 * line code, read from the original input by their stored offsets a page of rows at a time.
 */
@Injectable()
export class RerunLineSource implements RerunLines, OnModuleInit {
  readonly selectable: readonly string[] = SELECTABLE;
  readonly byDefault: readonly string[] = SELECTABLE.filter((code) => !ONLY_WHEN_ASKED.includes(code));
  readonly refused: Readonly<Record<string, string>> = REFUSED;

  constructor(
    private readonly rows: RequestRowsRepository,
    private readonly files: FilesService,
    private readonly reruns: BatchReruns,
  ) {}

  onModuleInit(): void {
    this.reruns.registerLines(this);
  }

  count(batchId: string, codes: readonly string[]): Promise<number> {
    return this.rows.countFailedWith(batchId, codes);
  }

  async *read(batchId: string, inputFileId: string, codes: readonly string[]): AsyncGenerator<Buffer> {
    for await (const page of this.rows.failedWith(batchId, codes)) {
      const reader = new LineReader(page, (offset, length) => this.files.readLine(inputFileId, offset, length));
      for (let i = 0; i < page.length; i++) yield Buffer.concat([await reader.line(i), NEWLINE]);
    }
  }
}
