import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';

/**
 * Cost: a SKU may take a discount on its provider's Batch API; a batch locks the prices it runs at and
 * keeps its running cost; each request row keeps its own cost (micro-units of COST_CURRENCY, counted
 * when its result is recorded); `usage_daily` sums usage and cost per account, day, model and provider
 * in the same transactions (the month-to-date spend of spend limits and the usage report read it); an
 * account may have a monthly spend limit.
 */
export class Costs1733000000200 implements MigrationInterface {
  name = 'Costs1733000000200';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('skus', new TableColumn({ name: 'batch_discount', type: 'float', isNullable: true }));
    await q.addColumns('batches', [
      new TableColumn({ name: 'input_price_per_mtok', type: 'float', isNullable: true }),
      new TableColumn({ name: 'output_price_per_mtok', type: 'float', isNullable: true }),
      new TableColumn({ name: 'cost_currency', type: 'varchar', length: '3', isNullable: true }),
      new TableColumn({ name: 'cost_micros', type: 'bigint', default: 0 }),
    ]);
    await q.addColumn('batch_requests', new TableColumn({ name: 'cost_micros', type: 'bigint', default: 0 }));
    await q.addColumn('accounts', new TableColumn({ name: 'monthly_spend_limit_micros', type: 'bigint', isNullable: true }));
    await q.createTable(
      new Table({
        name: 'usage_daily',
        columns: [
          { name: 'account_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'day', type: 'varchar', length: '10', isPrimary: true },
          { name: 'model', type: 'varchar', length: '200', isPrimary: true },
          { name: 'provider_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'requests', type: 'bigint', default: 0 },
          { name: 'prompt_tokens', type: 'bigint', default: 0 },
          { name: 'completion_tokens', type: 'bigint', default: 0 },
          { name: 'cached_tokens', type: 'bigint', default: 0 },
          { name: 'cost_micros', type: 'bigint', default: 0 },
        ],
      }),
    );
    await q.createIndex('usage_daily', new TableIndex({ name: 'IDX_usage_daily_day', columnNames: ['day'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('usage_daily', 'IDX_usage_daily_day');
    await q.dropTable('usage_daily');
    await q.dropColumn('accounts', 'monthly_spend_limit_micros');
    await q.dropColumn('batch_requests', 'cost_micros');
    for (const column of ['cost_micros', 'cost_currency', 'output_price_per_mtok', 'input_price_per_mtok']) await q.dropColumn('batches', column);
    await q.dropColumn('skus', 'batch_discount');
  }
}
