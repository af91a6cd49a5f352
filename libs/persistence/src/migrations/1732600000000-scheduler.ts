import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex } from 'typeorm';

/**
 * The fair scheduler: a pending request line claimed by a worker process names it (`lease_owner`), and
 * the worker keeps one row of its own alive (`scheduler_workers.alive_until`, epoch ms). A line whose
 * owner's row has lapsed (the worker died) is free to claim again; renewing costs one row, however many
 * lines a worker holds. Accounts get a weight for their share of a busy provider.
 */
export class Scheduler1732600000000 implements MigrationInterface {
  name = 'Scheduler1732600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('batch_requests', new TableColumn({ name: 'lease_owner', type: 'varchar', length: '64', isNullable: true }));
    await q.createIndex('batch_requests', new TableIndex({ name: 'IDX_batch_requests_lease', columnNames: ['lease_owner'] }));
    await q.createTable(
      new Table({
        name: 'scheduler_workers',
        columns: [
          { name: 'owner', type: 'varchar', length: '64', isPrimary: true },
          { name: 'alive_until', type: 'bigint' },
        ],
      }),
    );
    await q.addColumn('accounts', new TableColumn({ name: 'weight', type: 'integer', default: 1 }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('accounts', 'weight');
    await q.dropTable('scheduler_workers');
    await q.dropIndex('batch_requests', 'IDX_batch_requests_lease');
    await q.dropColumn('batch_requests', 'lease_owner');
  }
}
