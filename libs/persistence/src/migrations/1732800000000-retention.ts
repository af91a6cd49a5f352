import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * File retention: a batch keeps its `output_expires_after` for the files it writes at the end (30 days
 * unless the client asks otherwise), and `files` gets an index on its expiry for the sweeper. Files
 * recorded before this migration keep `expires_at` null (never expire): see docs/operations.md.
 */
export class Retention1732800000000 implements MigrationInterface {
  name = 'Retention1732800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('batches', new TableColumn({ name: 'output_expires_after_seconds', type: 'integer', default: 2_592_000 }));
    await q.createIndex('files', new TableIndex({ name: 'IDX_files_expiry', columnNames: ['expires_at', 'seq'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('files', 'IDX_files_expiry');
    await q.dropColumn('batches', 'output_expires_after_seconds');
  }
}
