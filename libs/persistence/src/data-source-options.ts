import type { AppConfig } from '@app/core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from './migrations';
import { TypeOrmLogger } from './typeorm-logger';

/**
 * The database: PostgreSQL when DATABASE_URL is set, otherwise an SQLite file in DATA_DIR.
 * Schema changes only through migrations, never synchronize.
 */
export function dataSourceOptions(config: Pick<AppConfig, 'databaseUrl' | 'dataDir'>): DataSourceOptions {
  // TypeORM's logging goes through the application's JSON logger, without query parameters.
  const common = { migrations: MIGRATIONS, migrationsRun: true, synchronize: false, logger: new TypeOrmLogger() };
  if (config.databaseUrl) {
    return { ...common, type: 'postgres', url: config.databaseUrl, extra: { max: 20 } };
  }
  mkdirSync(config.dataDir, { recursive: true });
  return {
    ...common,
    type: 'better-sqlite3',
    database: join(config.dataDir, 'gateway.sqlite'),
    prepareDatabase: (db: { pragma(sql: string): unknown }) => {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      // LIKE matches case-sensitively, as it does on PostgreSQL.
      db.pragma('case_sensitive_like = ON');
    },
  };
}
