import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * Every OpenAI batch endpoint: a file records the endpoints its lines name (with the first line naming
 * each), a SKU the endpoints it serves (null: chat completions, as before), and usage keeps OpenAI's
 * details (cached prompt tokens, reasoning tokens) per request and per batch.
 */
export class Endpoints1732900000000 implements MigrationInterface {
  name = 'Endpoints1732900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('files', new TableColumn({ name: 'endpoints', type: 'text', isNullable: true }));
    await q.addColumn('skus', new TableColumn({ name: 'endpoints', type: 'text', isNullable: true }));
    await q.addColumns('batches', [
      new TableColumn({ name: 'cached_tokens', type: 'bigint', default: 0 }),
      new TableColumn({ name: 'reasoning_tokens', type: 'bigint', default: 0 }),
    ]);
    await q.addColumns('batch_requests', [
      new TableColumn({ name: 'cached_tokens', type: 'integer', default: 0 }),
      new TableColumn({ name: 'reasoning_tokens', type: 'integer', default: 0 }),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const column of ['reasoning_tokens', 'cached_tokens']) await q.dropColumn('batch_requests', column);
    for (const column of ['reasoning_tokens', 'cached_tokens']) await q.dropColumn('batches', column);
    await q.dropColumn('skus', 'endpoints');
    await q.dropColumn('files', 'endpoints');
  }
}
