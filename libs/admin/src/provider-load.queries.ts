import { dialectOf, named, queryRows, SqlDialect } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** What each provider has to do now, across every process: lines waiting in its running batches, requests in flight. */
@Injectable()
export class ProviderLoadQueries {
  private readonly dialect: SqlDialect;

  constructor(private readonly dataSource: DataSource) {
    this.dialect = dialectOf(dataSource);
  }

  /** Lines not yet finished in the running (in_progress) batches, per provider. */
  async unfinishedLines(): Promise<Map<string, number>> {
    const rows = await queryRows<{ provider_id: string; lines: string | number | null }>(
      this.dataSource.manager,
      ...named(this.dialect, `SELECT provider_id, SUM(total - completed - failed) AS lines FROM batches WHERE status = 'in_progress' GROUP BY provider_id`, {}),
    );
    return new Map(rows.map((r) => [r.provider_id, Number(r.lines ?? 0)]));
  }

  /** Requests in flight per provider, summed over the live workers as their last heartbeat (every few seconds) reported them. */
  async inFlight(nowMs: number): Promise<Map<string, number>> {
    const rows = await queryRows<{ in_flight: string | null }>(
      this.dataSource.manager,
      ...named(this.dialect, `SELECT in_flight FROM scheduler_workers WHERE alive_until > :now`, { now: nowMs }),
    );
    const total = new Map<string, number>();
    for (const row of rows) {
      for (const [providerId, n] of Object.entries(JSON.parse(row.in_flight ?? '{}') as Record<string, number>)) {
        total.set(providerId, (total.get(providerId) ?? 0) + n);
      }
    }
    return total;
  }
}
