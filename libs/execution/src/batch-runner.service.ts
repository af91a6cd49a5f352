import { BatchesService, BatchRun, BatchStateMachine } from '@app/batches';
import { APP_CONFIG, AppConfig } from '@app/core';
import { FilesService, parseRequestLine } from '@app/files';
import { JobQueue, JOBS, RunChunkJob, STOP_GRACE_MS } from '@app/queue';
import { Provider, RoutingService } from '@app/routing';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { setMaxListeners } from 'node:events';
import { BatchStopWatch } from './batch-stop-watch';
import { LineReader } from './line-reader';
import { FinishedRow, PendingRow, RequestRowsService } from './request-rows.service';
import { REQUEST_ERROR_CODES } from './upstream/upstream-client';
import { noAnswer, UpstreamService } from './upstream/upstream.service';

const FLUSH_EVERY_ROWS = 500;
const FLUSH_EVERY_MS = 250;
const STOP_CHECK_MS = 100;

/**
 * Prepares a batch (request rows from the input file's line index), dispatches it in chunks, and runs
 * chunks against the locked provider. Every step is idempotent, so a retried or re-run job never
 * sends a finished line again and never writes a line twice.
 */
@Injectable()
export class BatchRunner {
  private readonly logger = new Logger(BatchRunner.name);
  /** Aborted at shutdown: in-flight requests stop, and their chunks are handed back to the queue. */
  private readonly shutdown = new AbortController();
  private readonly stops = new BatchStopWatch(async (batchId) => isDispatching(await this.batches.getRun(batchId)), STOP_CHECK_MS);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly batches: BatchesService,
    private readonly states: BatchStateMachine,
    private readonly rows: RequestRowsService,
    private readonly files: FilesService,
    private readonly routing: RoutingService,
    private readonly upstream: UpstreamService,
    private readonly queue: JobQueue,
  ) {}

  /** validating → in_progress: creates the request rows, then dispatches. */
  async prepare(batchId: string): Promise<void> {
    const batch = await this.batches.getRun(batchId);
    if (!batch) return;
    if (batch.status === 'validating') {
      try {
        await this.ensureRows(batch);
      } catch (err) {
        if (!(err instanceof InputUnreadableError)) throw err;
        // The input cannot be read back (its stored bytes or index are gone): retrying will not help.
        await this.states.apply(batchId, 'fail', {
          errors: [{ code: 'input_file_unreadable', message: err.message, param: 'input_file_id', line: null }],
        });
        this.logger.warn({ batchId, err: err.message }, 'Batch failed: its input file cannot be read');
        return;
      }
      if (batch.stopReason) return this.requestFinalize(batchId);
      const started = await this.states.apply(batchId, 'start');
      if (!started) return this.requestFinalize(batchId);
      this.logger.log({ batchId, total: batch.total }, 'Batch in progress');
    } else if (batch.status !== 'in_progress') {
      return;
    }
    await this.dispatch(batchId, batch.total);
  }

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

  /** Queues every chunk of the batch; chunk job ids make a repeated dispatch a no-op. */
  async dispatch(batchId: string, total: number): Promise<void> {
    const size = this.config.execution.chunkSize;
    for (let firstLine = 1; firstLine <= total; firstLine += size) {
      const lastLine = Math.min(total, firstLine + size - 1);
      await this.queue.add(JOBS.runChunk, { batchId, firstLine, lastLine }, { jobId: `chunk:${batchId}:${firstLine}` });
    }
    if (total === 0) await this.requestFinalize(batchId);
  }

  async runChunk({ batchId, firstLine, lastLine }: RunChunkJob): Promise<void> {
    const batch = await this.batches.getRun(batchId);
    if (!isDispatching(batch)) return;
    const pending = await this.rows.pendingInRange(batchId, firstLine, lastLine);
    if (pending.length > 0) {
      const provider = await this.routing.getProvider(batch.providerId);
      await this.sendAll(batch, provider, pending);
      if (this.shutdown.signal.aborted) throw new ChunkReleasedError(batchId, firstLine);
    }
    if (!(await this.rows.hasPending(batchId))) await this.requestFinalize(batchId);
  }

  /** Stops every running chunk at once (graceful shutdown); unfinished rows stay pending for the next worker. */
  stopAll(): void {
    this.shutdown.abort();
  }

  async requestFinalize(batchId: string, delayMs = 0): Promise<void> {
    await this.queue.add(JOBS.finalizeBatch, { batchId }, { jobId: `finalize:${batchId}`, delayMs });
  }

  private async sendAll(batch: BatchRun, provider: Provider, pending: PendingRow[]): Promise<void> {
    // `stopping`: send no new line; `stop`: abort what is in flight (at shutdown at once, on cancel or
    // expiry after a grace period, so answers already on their way are kept).
    let stopping = false;
    let grace: NodeJS.Timeout | null = null;
    const stop = new AbortController();
    // Every request in flight listens on it (up to the provider's concurrency).
    setMaxListeners(0, stop.signal);
    const onShutdown = () => {
      stopping = true;
      stop.abort();
    };
    this.shutdown.signal.addEventListener('abort', onShutdown, { once: true });
    if (this.shutdown.signal.aborted) stop.abort();
    const unwatch = this.stops.watch(batch.id, () => {
      if (stopping) return;
      stopping = true;
      grace = setTimeout(() => stop.abort(), STOP_GRACE_MS);
    });
    const buffer = new ResultBuffer((finished) => this.rows.finish(batch.id, finished));
    // An unexpected failure (the input cannot be read back, a database error) ends the chunk, but only
    // after every request already in flight has finished and been recorded: a retried job never sends
    // a line again that already has a result. A line that cannot be run is not such a failure: it ends
    // as an error line of its own.
    let failure: { error: unknown } | null = null;
    try {
      let next = 0;
      const reader = new LineReader(pending, (offset, length) => this.files.readLine(batch.inputFileId, offset, length));
      const lanes = Array.from({ length: Math.min(pending.length, provider.maxConcurrency) }, async () => {
        while (next < pending.length && !stopping && !failure) {
          const index = next++;
          try {
            const request = upstreamRequest(await reader.line(index), batch.upstreamModel);
            const outcome =
              'invalid' in request
                ? { ...noAnswer(REQUEST_ERROR_CODES.invalidLine, request.invalid), attempts: 0, latencyMs: 0 }
                : await this.upstream.execute(provider, request.json, stop.signal);
            if (outcome) buffer.add({ line: pending[index].line, outcome });
          } catch (error) {
            failure ??= { error };
          }
        }
      });
      await Promise.all(lanes);
    } finally {
      unwatch();
      if (grace) clearTimeout(grace);
      this.shutdown.signal.removeEventListener('abort', onShutdown);
      await buffer.close();
    }
    if (failure) throw (failure as { error: unknown }).error;
  }
}

/**
 * The body sent upstream for one input line (with the locked upstream model), read by the same rule as
 * the upload validator; `invalid` when the line cannot be run, so it ends as an error line instead.
 */
export function upstreamRequest(line: Uint8Array, upstreamModel: string): { json: string } | { invalid: string } {
  const parsed = parseRequestLine(line);
  if (!parsed.ok) return { invalid: `The input line ${parsed.reason}` };
  if (parsed.problems.length > 0) return { invalid: `The input line cannot be run: ${parsed.problems.join('; ')}` };
  return { json: JSON.stringify({ ...parsed.body, model: upstreamModel }) };
}

/** Whether lines of the batch may be sent: it exists, is in progress, and was neither cancelled nor expired. */
function isDispatching(batch: BatchRun | null): batch is BatchRun {
  return !!batch && batch.status === 'in_progress' && !batch.stopReason;
}

/** The input file's stored bytes or line index cannot be read back: the batch cannot run. */
export class InputUnreadableError extends Error {}

/** Thrown when shutdown interrupted a chunk, so the queue gives the job to another worker (or the next boot). */
export class ChunkReleasedError extends Error {
  constructor(batchId: string, firstLine: number) {
    super(`Chunk ${batchId}:${firstLine} released at shutdown`);
  }
}

/** Collects finished rows and writes them in small transactions, in order, one write at a time. */
class ResultBuffer {
  private rows: FinishedRow[] = [];
  private writing: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly write: (rows: FinishedRow[]) => Promise<void>) {
    this.timer = setInterval(() => this.flush(), FLUSH_EVERY_MS);
  }

  add(row: FinishedRow): void {
    this.rows.push(row);
    if (this.rows.length >= FLUSH_EVERY_ROWS) this.flush();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    await this.writing;
    if (this.failure) throw this.failure;
  }

  private flush(): void {
    if (this.rows.length === 0) return;
    const rows = this.rows;
    this.rows = [];
    this.writing = this.writing.then(() => this.write(rows)).catch((err) => {
      this.failure = err;
    });
  }
}
