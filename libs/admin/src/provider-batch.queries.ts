import { dialectOf, named, namedList, queryRows, SqlDialect } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ProviderBatchPart } from './graphql/models';

/** The admin API's read of the provider batches a batch runs on (the executor's own are ProviderBatches'). */
@Injectable()
export class ProviderBatchQueries {
  private readonly dialect: SqlDialect;

  constructor(private readonly dataSource: DataSource) {
    this.dialect = dialectOf(dataSource);
  }

  /** The parts of these batches, in part order, by batch id. */
  async partsOf(batchIds: readonly string[]): Promise<Map<string, ProviderBatchPart[]>> {
    const byBatch = new Map<string, ProviderBatchPart[]>(batchIds.map((id) => [id, []]));
    if (batchIds.length === 0) return byBatch;
    const ids = namedList('batch', batchIds);
    const rows = await queryRows<Record<string, string | number | null>>(
      this.dataSource.manager,
      ...named(
        this.dialect,
        `SELECT batch_id, part, first_line, last_line, state, provider_batch_id, provider_file_id, provider_status,
                provider_total, provider_completed, provider_failed, last_polled_at, failures, error
         FROM provider_batches WHERE batch_id IN (${ids.sql}) ORDER BY batch_id, part`,
        ids.values,
      ),
    );
    const text = (v: string | number | null) => (v === null ? null : String(v));
    for (const r of rows) {
      byBatch.get(String(r.batch_id))?.push({
        part: Number(r.part),
        firstLine: Number(r.first_line),
        lastLine: Number(r.last_line),
        state: String(r.state),
        providerBatchId: text(r.provider_batch_id),
        providerFileId: text(r.provider_file_id),
        providerStatus: text(r.provider_status),
        total: Number(r.provider_total),
        completed: Number(r.provider_completed),
        failed: Number(r.provider_failed),
        lastPolledAt: r.last_polled_at === null ? null : Number(r.last_polled_at),
        failures: Number(r.failures),
        error: text(r.error),
      });
    }
    return byBatch;
  }
}
