import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

const id = (name = 'id') => ({ name, type: 'varchar', length: '64', isPrimary: true });
const ref = (name: string, nullable = false) => ({ name, type: 'varchar', length: '64', isNullable: nullable });
const int = (name: string, nullable = false, def?: number) => ({
  name,
  type: 'integer',
  isNullable: nullable,
  ...(def === undefined ? {} : { default: def }),
});
const big = (name: string, nullable = false, def?: number) => ({
  name,
  type: 'bigint',
  isNullable: nullable,
  ...(def === undefined ? {} : { default: def }),
});
const text = (name: string, nullable = true) => ({ name, type: 'text', isNullable: nullable });
const str = (name: string, length: number, nullable = false) => ({ name, type: 'varchar', length: String(length), isNullable: nullable });
const bool = (name: string) => ({ name, type: 'boolean' });
const seq = { name: 'seq', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' as const };

/** Accounts, keys, files, routing, batches and their request rows. Portable QueryRunner API only. */
export class InitialSchema1732300000000 implements MigrationInterface {
  name = 'InitialSchema1732300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'settings',
        columns: [{ name: 'key', type: 'varchar', length: '64', isPrimary: true }, text('value', false)],
      }),
    );
    await q.createTable(
      new Table({
        name: 'accounts',
        columns: [id(), str('name', 200), text('webhook_url'), str('webhook_secret', 200), int('created_at')],
      }),
    );
    await q.createTable(
      new Table({
        name: 'api_keys',
        columns: [id(), ref('account_id'), str('prefix', 32), str('key_hash', 128), int('created_at'), int('revoked_at', true)],
        indices: [new TableIndex({ name: 'UQ_api_keys_hash', columnNames: ['key_hash'], isUnique: true })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'files',
        columns: [
          seq,
          str('id', 64),
          ref('account_id'),
          str('filename', 512),
          str('purpose', 32),
          big('bytes'),
          str('status', 32),
          int('created_at'),
          int('expires_at', true),
          str('storage_key', 256),
          int('line_count', false, 0),
          text('models'),
          text('validation_errors'),
        ],
        indices: [
          new TableIndex({ name: 'UQ_files_id', columnNames: ['id'], isUnique: true }),
          new TableIndex({ name: 'IDX_files_account', columnNames: ['account_id', 'seq'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'providers',
        columns: [
          id(),
          str('kind', 32),
          text('base_url', false),
          str('api_key_env', 128, true),
          int('max_concurrency', false, 16),
          int('rate_limit_per_minute', true),
          int('timeout_ms', true),
          int('created_at'),
          int('updated_at'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'skus',
        columns: [
          id(),
          str('model', 200),
          ref('provider_id'),
          str('upstream_model', 200),
          bool('batch_capable'),
          bool('active'),
          int('priority', false, 0),
          int('weight', false, 1),
          { name: 'input_price_per_mtok', type: 'float', isNullable: true },
          { name: 'output_price_per_mtok', type: 'float', isNullable: true },
          int('created_at'),
          int('updated_at'),
        ],
        indices: [new TableIndex({ name: 'IDX_skus_model', columnNames: ['model'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'batches',
        columns: [
          seq,
          str('id', 64),
          ref('account_id'),
          ref('input_file_id'),
          str('endpoint', 64),
          str('completion_window', 16),
          str('status', 16),
          str('stop_reason', 16, true),
          str('model', 200),
          ref('sku_id'),
          ref('provider_id'),
          str('upstream_model', 200),
          ref('output_file_id', true),
          ref('error_file_id', true),
          int('created_at'),
          int('in_progress_at', true),
          int('expires_at'),
          int('finalizing_at', true),
          int('completed_at', true),
          int('failed_at', true),
          int('expired_at', true),
          int('cancelling_at', true),
          int('cancelled_at', true),
          int('total', false, 0),
          int('completed', false, 0),
          int('failed', false, 0),
          big('prompt_tokens', false, 0),
          big('completion_tokens', false, 0),
          big('total_tokens', false, 0),
          text('metadata'),
          text('errors'),
          text('callback_url'),
        ],
        indices: [
          new TableIndex({ name: 'UQ_batches_id', columnNames: ['id'], isUnique: true }),
          new TableIndex({ name: 'IDX_batches_account', columnNames: ['account_id', 'seq'] }),
          new TableIndex({ name: 'IDX_batches_status', columnNames: ['status'] }),
          new TableIndex({ name: 'IDX_batches_input_file', columnNames: ['input_file_id'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'batch_requests',
        columns: [
          { name: 'batch_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'line', type: 'integer', isPrimary: true },
          str('custom_id', 512),
          big('byte_offset'),
          int('byte_length'),
          str('status', 16),
          int('attempts', false, 0),
          int('status_code', true),
          int('latency_ms', true),
          str('upstream_request_id', 200, true),
          text('response_body'),
          str('error_code', 64, true),
          text('error_message'),
          int('prompt_tokens', false, 0),
          int('completion_tokens', false, 0),
          int('finished_at', true),
        ],
        indices: [new TableIndex({ name: 'IDX_batch_requests_status', columnNames: ['batch_id', 'status', 'line'] })],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['batch_requests', 'batches', 'skus', 'providers', 'files', 'api_keys', 'accounts', 'settings']) {
      await q.dropTable(table);
    }
  }
}
