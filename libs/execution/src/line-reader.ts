import type { PendingRow } from './request-rows.service';

/** Lines are read in windows of consecutive rows up to this size: few reads, bounded memory. */
const WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * Reads the request lines of a chunk by their stored offsets, one range read per window of
 * neighbouring lines instead of one per line; at most two windows are held at a time.
 */
export class LineReader {
  private readonly windowOf: number[] = [];
  private readonly windows: { start: number; end: number }[] = [];
  private readonly loaded = new Map<number, Promise<Buffer>>();

  constructor(
    private readonly rows: PendingRow[],
    private readonly readAt: (offset: number, length: number) => Promise<Buffer>,
  ) {
    for (const row of rows) {
      const last = this.windows[this.windows.length - 1];
      const end = row.byteOffset + row.byteLength;
      if (last && row.byteOffset >= last.start && end - last.start <= WINDOW_BYTES) {
        last.end = Math.max(last.end, end);
      } else {
        this.windows.push({ start: row.byteOffset, end });
      }
      this.windowOf.push(this.windows.length - 1);
    }
  }

  async line(index: number): Promise<Buffer> {
    const w = this.windowOf[index];
    let bytes = this.loaded.get(w);
    if (!bytes) {
      const { start, end } = this.windows[w];
      bytes = this.readAt(start, end - start);
      this.loaded.set(w, bytes);
      for (const old of this.loaded.keys()) if (old < w - 1) this.loaded.delete(old);
    }
    const row = this.rows[index];
    const offset = row.byteOffset - this.windows[w].start;
    return (await bytes).subarray(offset, offset + row.byteLength);
  }
}
