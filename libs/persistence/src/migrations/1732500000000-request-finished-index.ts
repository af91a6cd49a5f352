import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/** Lets the admin overview count recently finished requests without scanning every row. */
export class RequestFinishedIndex1732500000000 implements MigrationInterface {
  name = 'RequestFinishedIndex1732500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createIndex('batch_requests', new TableIndex({ name: 'IDX_batch_requests_finished', columnNames: ['finished_at'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('batch_requests', 'IDX_batch_requests_finished');
  }
}
