import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * Each worker's heartbeat also carries its requests in flight per provider (JSON), so the admin overview
 * shows the whole deployment's, whichever process answers it (an API process holds none of its own).
 */
export class WorkerInFlight1733000000000 implements MigrationInterface {
  name = 'WorkerInFlight1733000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('scheduler_workers', new TableColumn({ name: 'in_flight', type: 'text', isNullable: true }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('scheduler_workers', 'in_flight');
  }
}
