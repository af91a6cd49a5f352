import { dialectOf, execute, named, queryRows, SqlDialect } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { PendingRow } from '../request-rows.service';

/**
 * Leases on pending request lines: a worker process claims a few hundred lines of a batch at a time,
 * holds them while it sends them (renewing the lease), and gives back what it did not send when it
 * stops. A line whose lease has expired (its worker died) is claimed again by any worker. On
 * PostgreSQL concurrent claims skip each other's rows (FOR UPDATE SKIP LOCKED); SQLite runs one writer
 * at a time, and one process. Finishing a line (RequestRowsService.finish) clears its lease.
 */
@Injectable()
export class LineLeases {
  private readonly dialect: SqlDialect;

  constructor(private readonly dataSource: DataSource) {
    this.dialect = dialectOf(dataSource);
  }

  /**
   * Claims up to `count` pending lines of a batch after `afterLine`, unleased or with an expired lease,
   * in line order, for `owner` until `until` (epoch ms).
   */
  async claim(batchId: string, owner: string, count: number, afterLine: number, now: number, until: number): Promise<PendingRow[]> {
    const claimable = `SELECT line FROM batch_requests
      WHERE batch_id = :batch AND status = 'pending' AND line > :after AND (lease_until IS NULL OR lease_until < :now)
      ORDER BY line LIMIT :count`;
    const statement =
      this.dialect === 'postgres'
        ? `UPDATE batch_requests AS r SET lease_owner = :owner, lease_until = :until
           FROM (${claimable} FOR UPDATE SKIP LOCKED) AS c
           WHERE r.batch_id = :batch AND r.line = c.line
           RETURNING r.line, r.byte_offset, r.byte_length`
        : `UPDATE batch_requests SET lease_owner = :owner, lease_until = :until
           WHERE batch_id = :batch AND line IN (${claimable})
           RETURNING line, byte_offset, byte_length`;
    const rows = await queryRows<{ line: number; byte_offset: number | string; byte_length: number }>(
      this.dataSource.manager,
      ...named(this.dialect, statement, { owner, until, batch: batchId, after: afterLine, now, count }),
    );
    return rows
      .map((r) => ({ line: Number(r.line), byteOffset: Number(r.byte_offset), byteLength: Number(r.byte_length) }))
      .sort((a, b) => a.line - b.line);
  }

  /** Extends every lease `owner` holds on a pending line; returns how many. */
  renew(owner: string, until: number): Promise<number> {
    return execute(
      this.dataSource.manager,
      ...named(this.dialect, `UPDATE batch_requests SET lease_until = :until WHERE lease_owner = :owner AND status = 'pending'`, { until, owner }),
    );
  }

  /** Gives back `owner`'s leases (of one batch, or of some of its lines), so any worker may claim those lines at once. */
  release(owner: string, batchId?: string, lines?: number[]): Promise<number> {
    if (lines?.length === 0) return Promise.resolve(0);
    const values: Record<string, unknown> = { owner, batch: batchId };
    let where = `lease_owner = :owner AND status = 'pending'`;
    if (batchId !== undefined) where += ' AND batch_id = :batch';
    if (lines !== undefined) {
      lines.forEach((line, i) => (values[`l${i}`] = line));
      where += ` AND line IN (${lines.map((_, i) => `:l${i}`).join(',')})`;
    }
    return execute(this.dataSource.manager, ...named(this.dialect, `UPDATE batch_requests SET lease_owner = NULL, lease_until = NULL WHERE ${where}`, values));
  }

  /** Gives back every lease (one process on SQLite: at boot, no other process can hold one). */
  releaseAll(): Promise<number> {
    return execute(this.dataSource.manager, `UPDATE batch_requests SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL`, []);
  }
}
