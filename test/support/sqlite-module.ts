import 'reflect-metadata';
import { Clock, CoreModule, loadConfig, QuietLogger } from '@app/core';
import { PersistenceModule } from '@app/persistence';
import { QueueModule } from '@app/queue';
import type { ModuleMetadata } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BatchStatus } from '@app/batches';
import { DataSource } from 'typeorm';
import { BatchEntity } from '../../libs/batches/src/entities/batch.entity';
import { uniqueName } from './databases';

/** A clock the test sets and moves; everything the module writes is stamped with it. */
export class TestClock extends Clock {
  constructor(private ms = Date.UTC(2025, 0, 1)) {
    super();
  }

  override nowMs(): number {
    return this.ms;
  }

  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export interface SqliteModule {
  module: TestingModule;
  dataSource: DataSource;
  clock: TestClock;
  close(): Promise<void>;
}

/**
 * The middle tier: the real modules named in `imports`, with their real repositories and services, on a
 * fresh SQLite file in a temporary directory that the real migrations built, and a TestClock. The module
 * is compiled, not initialised: no worker starts, no routing seed is written, so a test sees only its own rows.
 */
export async function sqliteModule(imports: NonNullable<ModuleMetadata['imports']>): Promise<SqliteModule> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bg-medium-'));
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'warn', DATA_DIR: dataDir });
  const clock = new TestClock();
  try {
    const module = await Test.createTestingModule({ imports: [CoreModule.forRoot(config), PersistenceModule, QueueModule.forRoot(config), ...imports] })
      .overrideProvider(Clock)
      .useValue(clock)
      .compile();
    module.useLogger(module.get(QuietLogger));
    return {
      module,
      dataSource: module.get(DataSource),
      clock,
      async close() {
        await module.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** A batch row as create stores it (24h window, created now by the module's clock), in `status`. */
export async function insertBatch(db: SqliteModule, status: BatchStatus, extra: Partial<BatchEntity> = {}): Promise<string> {
  const id = uniqueName('batch');
  const createdAt = db.clock.nowSeconds();
  await db.dataSource.getRepository(BatchEntity).insert({
    id,
    accountId: uniqueName('acct'),
    inputFileId: uniqueName('file'),
    endpoint: '/v1/chat/completions',
    completionWindow: '24h',
    status,
    model: 'm',
    skuId: 'm@p',
    providerId: 'p',
    upstreamModel: 'u',
    createdAt,
    expiresAt: createdAt + 86_400,
    ...extra,
  });
  return id;
}
