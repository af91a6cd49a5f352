import { dialectOf, execute, named, namedList, queryRows, SqlDialect } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { PendingRow } from '../request-rows.service';

/**
 * Leases on pending request lines. A worker process claims a few hundred lines of a batch at a time
 * (`lease_owner` on the rows) and keeps one row of its own alive in `scheduler_workers`; a line belongs
 * to its owner while that row is alive, so renewing costs one row however many lines are held, and
 * touches no request row (nothing for a result write to wait on). When a worker dies its row lapses and
 * its unfinished lines are free to claim. On PostgreSQL concurrent claims skip each other's rows
 * (FOR UPDATE SKIP LOCKED); SQLite runs one writer at a time, and one process. Finishing a line
 * (RequestRowsService.finish) clears its owner.
 */
@Injectable()
export class LineLeases {
  private readonly dialect: SqlDialect;

  constructor(private readonly dataSource: DataSource) {
    this.dialect = dialectOf(dataSource);
  }

  /** Keeps `owner` alive until `until` (epoch ms); its lines stay its own meanwhile. `inFlight`: its requests in flight per provider. */
  async heartbeat(owner: string, until: number, inFlight: Record<string, number> = {}): Promise<void> {
    await execute(
      this.dataSource.manager,
      ...named(
        this.dialect,
        `INSERT INTO scheduler_workers (owner, alive_until, in_flight) VALUES (:owner, :until, :inFlight)
         ON CONFLICT (owner) DO UPDATE SET alive_until = excluded.alive_until, in_flight = excluded.in_flight`,
        { owner, until, inFlight: JSON.stringify(inFlight) },
      ),
    );
  }

  /**
   * Claims up to `count` pending lines of a batch after `afterLine`, in line order, that nobody alive
   * holds (no owner, or an owner whose row has lapsed).
   */
  async claim(batchId: string, owner: string, count: number, afterLine: number, now: number): Promise<PendingRow[]> {
    const claimable = `SELECT line FROM batch_requests
      WHERE batch_id = :batch AND status = 'pending' AND line > :after
        AND (lease_owner IS NULL OR lease_owner NOT IN (SELECT owner FROM scheduler_workers WHERE alive_until > :now))
      ORDER BY line LIMIT :count`;
    const statement =
      this.dialect === 'postgres'
        ? // MATERIALIZED: a LIMIT … SKIP LOCKED subquery joined into the UPDATE may be run again for each
          // row it is joined with, each run locking and returning other rows: one claim took 2,636 lines.
          `WITH c AS MATERIALIZED (${claimable} FOR UPDATE SKIP LOCKED)
           UPDATE batch_requests AS r SET lease_owner = :owner
           FROM c WHERE r.batch_id = :batch AND r.line = c.line
           RETURNING r.line, r.byte_offset, r.byte_length`
        : `UPDATE batch_requests SET lease_owner = :owner
           WHERE batch_id = :batch AND line IN (${claimable})
           RETURNING line, byte_offset, byte_length`;
    const rows = await queryRows<{ line: number; byte_offset: number | string; byte_length: number }>(
      this.dataSource.manager,
      ...named(this.dialect, statement, { owner, batch: batchId, after: afterLine, now, count }),
    );
    return rows.map((r) => ({ line: Number(r.line), byteOffset: Number(r.byte_offset), byteLength: Number(r.byte_length) })).sort((a, b) => a.line - b.line);
  }

  /** Gives back `owner`'s lines (of one batch, or some of its lines), so any worker may claim them at once. */
  release(owner: string, batchId?: string, lines?: number[]): Promise<number> {
    if (lines?.length === 0) return Promise.resolve(0);
    let values: Record<string, unknown> = { owner, batch: batchId };
    let where = `lease_owner = :owner AND status = 'pending'`;
    if (batchId !== undefined) where += ' AND batch_id = :batch';
    if (lines !== undefined) {
      const list = namedList('l', lines);
      values = { ...values, ...list.values };
      where += ` AND line IN (${list.sql})`;
    }
    return execute(this.dataSource.manager, ...named(this.dialect, `UPDATE batch_requests SET lease_owner = NULL WHERE ${where}`, values));
  }

  /** Forgets `owner` (graceful shutdown, after `release`). */
  async retire(owner: string): Promise<void> {
    await execute(this.dataSource.manager, ...named(this.dialect, `DELETE FROM scheduler_workers WHERE owner = :owner`, { owner }));
  }

  /** Forgets workers that lapsed before `before` (killed processes leave their row behind). */
  async forgetLapsed(before: number): Promise<void> {
    await execute(this.dataSource.manager, ...named(this.dialect, `DELETE FROM scheduler_workers WHERE alive_until < :before`, { before }));
  }

  /** Forgets every worker: on SQLite at boot, where no other process can be alive, their lines are free at once. */
  async retireAll(): Promise<void> {
    await execute(this.dataSource.manager, `DELETE FROM scheduler_workers`, []);
  }
}
