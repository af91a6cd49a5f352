import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

/** The webhook outbox (one row per event) and every delivery attempt. */
export class Webhooks1732400000000 implements MigrationInterface {
  name = 'Webhooks1732400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'webhook_events',
        columns: [
          { name: 'id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'account_id', type: 'varchar', length: '64' },
          { name: 'batch_id', type: 'varchar', length: '64' },
          { name: 'type', type: 'varchar', length: '64' },
          { name: 'target_url', type: 'text' },
          { name: 'payload', type: 'text' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'attempts', type: 'integer', default: 0 },
          { name: 'next_attempt_at', type: 'bigint', isNullable: true },
          { name: 'created_at', type: 'integer' },
          { name: 'delivered_at', type: 'integer', isNullable: true },
          { name: 'last_error', type: 'text', isNullable: true },
        ],
        indices: [
          new TableIndex({ name: 'IDX_webhook_events_due', columnNames: ['status', 'next_attempt_at'] }),
          new TableIndex({ name: 'UQ_webhook_events_batch_type', columnNames: ['batch_id', 'type'], isUnique: true }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'webhook_attempts',
        columns: [
          { name: 'seq', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'event_id', type: 'varchar', length: '64' },
          { name: 'attempt', type: 'integer' },
          { name: 'attempted_at', type: 'bigint' },
          { name: 'status_code', type: 'integer', isNullable: true },
          { name: 'latency_ms', type: 'integer' },
          { name: 'error', type: 'text', isNullable: true },
        ],
        indices: [new TableIndex({ name: 'IDX_webhook_attempts_event', columnNames: ['event_id', 'attempt'] })],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('webhook_attempts');
    await q.dropTable('webhook_events');
  }
}
