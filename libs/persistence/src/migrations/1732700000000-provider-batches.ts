import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';

/**
 * Provider Batch APIs: a provider may run batches on its own Files + Batches API (`batch_api`, with its
 * poll interval and per-batch limits); a batch records how it runs (`execution`) and the progress its
 * provider batches report before their results are collected (`remote_completed`, `remote_failed`);
 * `provider_batches` holds each part of a batch submitted to a provider: its line range, the provider's
 * file and batch ids, and the worker working on it.
 */
export class ProviderBatches1732700000000 implements MigrationInterface {
  name = 'ProviderBatches1732700000000';

  async up(q: QueryRunner): Promise<void> {
    // Each dialect's spelling of false, as TypeORM writes the entity's default (so the schema check sees no difference).
    const no = q.connection.options.type === 'postgres' ? 'false' : 0;
    await q.addColumns('providers', [
      new TableColumn({ name: 'batch_api', type: 'boolean', default: no }),
      new TableColumn({ name: 'batch_poll_interval_ms', type: 'integer', default: 30_000 }),
      new TableColumn({ name: 'max_batch_lines', type: 'integer', default: 50_000 }),
      new TableColumn({ name: 'max_batch_bytes', type: 'bigint', default: 209_715_200 }),
    ]);
    await q.addColumns('batches', [
      new TableColumn({ name: 'execution', type: 'varchar', length: '16', default: "'realtime'" }),
      new TableColumn({ name: 'remote_completed', type: 'integer', default: 0 }),
      new TableColumn({ name: 'remote_failed', type: 'integer', default: 0 }),
    ]);
    await q.createTable(
      new Table({
        name: 'provider_batches',
        columns: [
          { name: 'batch_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'part', type: 'integer', isPrimary: true },
          { name: 'provider_id', type: 'varchar', length: '64' },
          { name: 'first_line', type: 'integer' },
          { name: 'last_line', type: 'integer' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'provider_file_id', type: 'varchar', length: '200', isNullable: true },
          { name: 'provider_batch_id', type: 'varchar', length: '200', isNullable: true },
          { name: 'provider_status', type: 'varchar', length: '32', isNullable: true },
          { name: 'provider_total', type: 'integer', default: 0 },
          { name: 'provider_completed', type: 'integer', default: 0 },
          { name: 'provider_failed', type: 'integer', default: 0 },
          { name: 'output_file_id', type: 'varchar', length: '200', isNullable: true },
          { name: 'error_file_id', type: 'varchar', length: '200', isNullable: true },
          { name: 'create_started_at', type: 'integer', isNullable: true },
          { name: 'cancel_requested_at', type: 'integer', isNullable: true },
          { name: 'last_polled_at', type: 'integer', isNullable: true },
          { name: 'failures', type: 'integer', default: 0 },
          { name: 'error', type: 'text', isNullable: true },
          { name: 'next_at', type: 'bigint' },
          { name: 'lease_owner', type: 'varchar', length: '64', isNullable: true },
          { name: 'created_at', type: 'integer' },
          { name: 'updated_at', type: 'integer' },
        ],
      }),
    );
    await q.createIndex('provider_batches', new TableIndex({ name: 'IDX_provider_batches_due', columnNames: ['state', 'next_at'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('provider_batches');
    for (const column of ['remote_failed', 'remote_completed', 'execution']) await q.dropColumn('batches', column);
    for (const column of ['max_batch_bytes', 'max_batch_lines', 'batch_poll_interval_ms', 'batch_api']) await q.dropColumn('providers', column);
  }
}
