import { setTimeout as sleep } from 'node:timers/promises';
import type { FinishedRow } from '../request-rows.service';

const FLUSH_EVERY_ROWS = 500;
const FLUSH_EVERY_MS = 250;
/** A failed write is tried again after 0.2, 0.4, 0.8, 1.6 and 3.2 s (a database restart, a failover). */
const WRITE_RETRIES_MS = [200, 400, 800, 1600, 3200];

/**
 * Collects finished rows and writes them in small transactions, in order, one write at a time. A write
 * that still fails after its retries hands its rows to `lost`: their answers are gone, so the caller
 * gives their lines back to be sent again.
 */
export class ResultBuffer {
  private rows: FinishedRow[] = [];
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly write: (rows: FinishedRow[]) => Promise<void>,
    private readonly lost: (rows: FinishedRow[], err: unknown) => Promise<void>,
  ) {}

  add(row: FinishedRow): void {
    this.rows.push(row);
    if (this.rows.length >= FLUSH_EVERY_ROWS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_EVERY_MS);
  }

  /** Writes what is buffered and waits for every write. */
  async close(): Promise<void> {
    this.flush();
    await this.writing;
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.rows.length === 0) return;
    const rows = this.rows;
    this.rows = [];
    this.writing = this.writing.then(() => this.writeWithRetries(rows)).catch((err) => this.lost(rows, err).catch(() => undefined));
  }

  private async writeWithRetries(rows: FinishedRow[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.write(rows);
      } catch (err) {
        if (attempt >= WRITE_RETRIES_MS.length) throw err;
        await sleep(WRITE_RETRIES_MS[attempt]);
      }
    }
  }
}
