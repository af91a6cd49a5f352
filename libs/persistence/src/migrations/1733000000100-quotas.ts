import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * Token estimates and per-account quotas: a `purpose=batch` file keeps the count of its input tokens
 * (counted after the upload answers: `token_count_state` pending → counted), a batch keeps the estimate
 * it was created with (what its account has enqueued), and an account its optional quotas (null: no
 * limit): the most unfinished batches, the most enqueued input tokens per model (a default for any model
 * and a list of per-model limits).
 */
export class Quotas1733000000100 implements MigrationInterface {
  name = 'Quotas1733000000100';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('files', [
      new TableColumn({ name: 'input_tokens_estimate', type: 'bigint', isNullable: true }),
      new TableColumn({ name: 'token_count_state', type: 'varchar', length: '16', isNullable: true }),
    ]);
    await q.addColumn('batches', new TableColumn({ name: 'input_tokens_estimate', type: 'bigint', isNullable: true }));
    await q.addColumns('accounts', [
      new TableColumn({ name: 'max_unfinished_batches', type: 'integer', isNullable: true }),
      new TableColumn({ name: 'max_enqueued_tokens', type: 'bigint', isNullable: true }),
      new TableColumn({ name: 'enqueued_token_limits', type: 'text', isNullable: true }),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const column of ['enqueued_token_limits', 'max_enqueued_tokens', 'max_unfinished_batches']) await q.dropColumn('accounts', column);
    await q.dropColumn('batches', 'input_tokens_estimate');
    for (const column of ['token_count_state', 'input_tokens_estimate']) await q.dropColumn('files', column);
  }
}
