import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * The fair scheduler: request lines are claimed in leases (the worker that holds a pending line, and
 * until when, in epoch milliseconds), found again by owner to renew or release them; accounts get a
 * weight for their share of a busy provider.
 */
export class Scheduler1732600000000 implements MigrationInterface {
  name = 'Scheduler1732600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('batch_requests', [
      new TableColumn({ name: 'lease_owner', type: 'varchar', length: '64', isNullable: true }),
      new TableColumn({ name: 'lease_until', type: 'bigint', isNullable: true }),
    ]);
    await q.createIndex('batch_requests', new TableIndex({ name: 'IDX_batch_requests_lease', columnNames: ['lease_owner'] }));
    await q.addColumn('accounts', new TableColumn({ name: 'weight', type: 'integer', default: 1 }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('accounts', 'weight');
    await q.dropIndex('batch_requests', 'IDX_batch_requests_lease');
    await q.dropColumns('batch_requests', ['lease_owner', 'lease_until']);
  }
}
