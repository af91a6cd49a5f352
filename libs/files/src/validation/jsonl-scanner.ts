import { ApiError } from '@app/core';
import { PassThrough, Transform, TransformCallback } from 'node:stream';
import type { FileEndpoint, LineProblem } from '../entities/file.entity';
import { parseRequestLine } from './request-line';

export interface ScanLimits {
  maxLines: number;
  maxLineBytes: number;
}

export interface ScanSummary {
  lineCount: number;
  models: string[];
  /** Each endpoint the lines name, with the first line naming it (a batch's lines must all name its endpoint). */
  endpoints: FileEndpoint[];
  /** The first problems with request lines (kept with the file, reported at batch create). */
  errors: LineProblem[];
  errorCount: number;
}

/** One entry of the line index kept beside a batch input file: where each request line lives. */
export type LineIndexEntry = [offset: number, length: number, customId: string];

const MAX_KEPT_ERRORS = 20;
/** Distinct models kept in the summary: one is all a batch may use, a few more name the mix in the error. */
export const MAX_KEPT_MODELS = 8;

/**
 * Passes an upload through unchanged while checking it line by line: UTF-8, one JSON object per line,
 * no blank line but the last, the line and line-count limits (these reject the upload: the line-count
 * limit with too_many_lines, the rest with batch_invalid_jsonl), and the request fields of each line
 * (these are kept in the summary and reported when a batch is created from the file). It writes
 * the line index (byte offset, length, custom_id) to `index` as it goes, so nothing is held whole.
 */
export class JsonlScanner extends Transform {
  readonly index = new PassThrough();
  private readonly customIds = new Map<string, number>();
  private readonly models = new Set<string>();
  private readonly endpoints = new Map<string, number>();
  private readonly errors: LineProblem[] = [];
  private errorCount = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lineStart = 0;
  private lineNumber = 0;
  private lineCount = 0;
  private firstBlankLine = 0;

  constructor(private readonly limits: ScanLimits) {
    super();
  }

  summary(): ScanSummary {
    return {
      lineCount: this.lineCount,
      models: [...this.models],
      endpoints: [...this.endpoints].map(([url, line]) => ({ url, line })),
      errors: this.errors,
      errorCount: this.errorCount,
    };
  }

  _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
        const piece = chunk.subarray(start, nl);
        const line = this.pending.length === 0 ? piece : Buffer.concat([...this.pending, piece]);
        this.pending = [];
        this.pendingBytes = 0;
        this.onLine(line);
        this.lineStart += line.length + 1;
        start = nl + 1;
      }
      if (start < chunk.length) {
        this.pending.push(chunk.subarray(start));
        this.pendingBytes += chunk.length - start;
        if (this.pendingBytes > this.limits.maxLineBytes + 1) this.lineTooLarge(this.lineNumber + 1);
      }
      done(null, chunk);
    } catch (err) {
      done(err as Error);
    }
  }

  _flush(done: TransformCallback): void {
    try {
      if (this.pendingBytes > 0) this.onLine(Buffer.concat(this.pending));
      if (this.lineCount === 0) throw new ApiError('batch_invalid_jsonl', 'The file has no request lines', 'file');
      this.index.end();
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  _destroy(err: Error | null, done: (error: Error | null) => void): void {
    // On an error the index stops too (the scanner's own error is the one reported). After a clean end
    // the index has been ended and is still being written: destroying it then would cut that write off.
    if (err || !this.index.writableEnded) this.index.destroy();
    done(err);
  }

  private onLine(raw: Buffer): void {
    this.lineNumber += 1;
    const n = this.lineNumber;
    const content = raw.length > 0 && raw[raw.length - 1] === 13 ? raw.subarray(0, raw.length - 1) : raw;
    if (content.length > this.limits.maxLineBytes) this.lineTooLarge(n);
    if (content.length === 0) {
      if (this.firstBlankLine === 0) this.firstBlankLine = n;
      return;
    }
    if (this.firstBlankLine !== 0) {
      throw new ApiError('batch_invalid_jsonl', `Line ${this.firstBlankLine} is empty; only the last line may be blank`, 'file');
    }
    const parsed = parseRequestLine(content);
    if (!parsed.ok) throw new ApiError('batch_invalid_jsonl', `Line ${n} ${parsed.reason}`, 'file');
    this.lineCount += 1;
    if (this.lineCount > this.limits.maxLines) {
      throw new ApiError('too_many_lines', `The file has more than ${this.limits.maxLines} lines`, 'file');
    }
    for (const message of parsed.problems) this.problem(n, message);
    const customId = parsed.customId ?? '';
    if (customId !== '') {
      const first = this.customIds.get(customId);
      if (first !== undefined) this.problem(n, `custom_id '${customId}' is a duplicate of line ${first}`);
      else this.customIds.set(customId, n);
    }
    if (parsed.model !== null && this.models.size < MAX_KEPT_MODELS) this.models.add(parsed.model);
    if (parsed.url !== null && !this.endpoints.has(parsed.url)) this.endpoints.set(parsed.url, n);
    const entry: LineIndexEntry = [this.lineStart, content.length, customId];
    this.index.write(JSON.stringify(entry) + '\n');
  }

  private problem(line: number, message: string): void {
    this.errorCount += 1;
    if (this.errors.length < MAX_KEPT_ERRORS) this.errors.push({ line, message: `Line ${line}: ${message}` });
  }

  private lineTooLarge(n: number): never {
    throw new ApiError('batch_invalid_jsonl', `Line ${n} is longer than ${this.limits.maxLineBytes} bytes`, 'file');
  }
}
