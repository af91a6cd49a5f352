import type { BatchRun } from '@app/batches';
import { setMaxListeners } from 'node:events';
import { LineReader } from '../line-reader';
import type { FinishedRow, PendingRow } from '../request-rows.service';
import type { LineLeases } from './line-leases.repository';
import { ResultBuffer } from './result-buffer';

/** What a batch's lines need from the scheduler around them. */
export interface BatchLinesContext {
  leases: LineLeases;
  /** This process's lease owner id. */
  owner: string;
  readLine(fileId: string, offset: number, length: number): Promise<Buffer>;
  finish(batchId: string, rows: FinishedRow[]): Promise<void>;
  /** Lines were claimed (or a claim ended): the dispatcher may start more. */
  onClaimed(): void;
  /** Nothing of the batch is left here (see `idle`): time to look whether it is done, without waiting for a tick. */
  onIdle(): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/** One line ready to send: its row, and its bytes read from the input file by offset on demand. */
export interface ReadyLine {
  row: PendingRow;
  bytes(): Promise<Buffer>;
}

/**
 * One batch's lines in this worker process: the lines it has claimed (a lease at a time, read from the
 * input file by offset only when sent), how many are in flight, the results waiting to be written, and
 * whether the batch is halting. Never more than a couple of leases of rows are held, whatever the
 * batch's size.
 */
export class BatchLines {
  /** Aborted when the batch stops (after the grace period) or the process shuts down. */
  readonly abort = new AbortController();
  readonly results: ResultBuffer;
  inFlight = 0;
  halting = false;
  private queue: ReadyLine[] = [];
  private head = 0;
  private afterLine = 0;
  private claiming: Promise<void> | null = null;
  /** Lines to give back whose release failed (the database was away). */
  private unreleased: number[] = [];
  /** A line was set back since the last claim: the batch waits for the next tick instead of asking for one. */
  private setBackSinceClaim = false;
  /** The last claim, from the first line on, found nothing claimable: claim again only at the next tick. */
  private dry = false;

  constructor(
    readonly batch: BatchRun,
    private readonly context: BatchLinesContext,
  ) {
    // Every request in flight listens on it (up to the provider's concurrency).
    setMaxListeners(0, this.abort.signal);
    this.results = new ResultBuffer(
      (rows) => context.finish(batch.id, rows),
      async (rows, err) => {
        // The answers are lost with the write: give the lines back so that they are sent again.
        context.warn(
          { batchId: batch.id, lines: rows.length, err: (err as Error).message },
          'Results could not be recorded; their lines go back to be sent again',
        );
        await this.giveBack(rows.map((r) => r.line));
      },
    );
  }

  get ready(): boolean {
    return !this.halting && this.head < this.queue.length;
  }

  get buffered(): number {
    return this.queue.length - this.head;
  }

  /** Nothing here is claimed, buffered, in flight or being claimed, and the last claim found nothing. */
  get idle(): boolean {
    return this.dry && !this.claiming && this.buffered === 0 && this.inFlight === 0 && this.unreleased.length === 0;
  }

  /**
   * One of its lines is no longer in flight. The last one of a batch with nothing left to claim asks for
   * a look at once (a dry claim alone does not: lines leased elsewhere would have it look again and again).
   */
  sent(): void {
    this.inFlight -= 1;
    if (this.idle && !this.setBackSinceClaim) this.context.onIdle();
  }

  take(): ReadyLine {
    const next = this.queue[this.head++];
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return next;
  }

  /** Claims another lease when fewer than half a lease of lines are buffered (`force`: also after a dry claim). */
  refill(leaseLines: number, force = false): void {
    if (this.halting || this.claiming || this.buffered >= leaseLines / 2 || (this.dry && !force)) return;
    // `claim` clears `claiming` itself, in the same turn as it adds the lines, so whoever takes them next can claim again.
    this.claiming = this.claim(leaseLines).then(() => this.context.onClaimed());
  }

  /** Gives claimed lines back unsent, so that any worker (this one included) claims them again. */
  async giveBack(lines: number[]): Promise<void> {
    this.unreleased.push(...lines);
    const batch = this.unreleased;
    this.unreleased = [];
    try {
      await this.context.leases.release(this.context.owner, this.batch.id, batch);
    } catch (err) {
      // Still this process's (its lease lasts while it is alive): tried again at the next tick.
      this.unreleased.push(...batch);
      this.context.warn({ batchId: this.batch.id, err: (err as Error).message }, 'Could not give lines back; will try again');
    }
  }

  /**
   * A line could not be sent for a reason that is not its own (its bytes could not be read back): it
   * goes back, with the rest of what is buffered, and the batch claims nothing more until the next
   * tick, so a storage fault is retried twice a second, not in a loop (and warned about once a tick).
   */
  async setBack(line: number, err: Error): Promise<void> {
    if (!this.dry || this.buffered > 0) {
      this.context.warn(
        { batchId: this.batch.id, line, err: err.message },
        'A line could not be sent; the batch pauses until the next tick and its lines go back',
      );
    }
    this.dry = true;
    this.setBackSinceClaim = true;
    const buffered = this.queue.slice(this.head).map((l) => l.row.line);
    this.queue = [];
    this.head = 0;
    await this.giveBack([line, ...buffered]);
  }

  /** Retries giving back lines whose release failed. */
  async retryGiveBack(): Promise<void> {
    if (this.unreleased.length > 0) await this.giveBack([]);
  }

  /** Halts the batch here (cancelled, expiring, ended, or this worker shutting down): takes no more lines; what is in flight is aborted after `graceMs` (0: at once). Asking again only shortens the grace. */
  halt(graceMs: number): void {
    if (graceMs === 0) this.abort.abort();
    if (this.halting) return;
    this.halting = true;
    this.queue = [];
    this.head = 0;
    if (graceMs > 0) setTimeout(() => this.abort.abort(), graceMs).unref();
  }

  private async claim(count: number): Promise<void> {
    const { leases, owner } = this.context;
    try {
      const now = Date.now();
      let rows = await leases.claim(this.batch.id, owner, count, this.afterLine, now);
      if (rows.length === 0 && this.afterLine > 0) {
        // Past the end: look again from the start for lines given back or whose worker died.
        this.afterLine = 0;
        rows = await leases.claim(this.batch.id, owner, count, 0, now);
      }
      this.dry = rows.length === 0;
      if (rows.length === 0) return;
      if (this.halting) {
        await leases.release(
          owner,
          this.batch.id,
          rows.map((r) => r.line),
        );
        return;
      }
      this.afterLine = rows[rows.length - 1].line;
      this.setBackSinceClaim = false;
      const reader = new LineReader(rows, (offset, length) => this.context.readLine(this.batch.inputFileId, offset, length));
      rows.forEach((row, i) => this.queue.push({ row, bytes: () => reader.line(i) }));
    } catch (err) {
      this.dry = true;
      this.context.warn({ batchId: this.batch.id, err: (err as Error).message }, 'Could not claim lines; will try again');
    } finally {
      this.claiming = null;
    }
  }
}
