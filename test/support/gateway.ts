import 'reflect-metadata';
import { AccountsService } from '@app/accounts';
import { AppConfig, loadConfig } from '@app/core';
import { INestApplication } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { DataSource } from 'typeorm';
import { createGateway } from '../../apps/gateway/src/bootstrap';
import { createPostgresDatabase, currentDriver, TEST_REDIS_URL, uniqueName } from './databases';
import { RoutingFile, writeRoutingFile } from './routing';
import { randomBytes } from 'node:crypto';

export interface Tenant {
  accountId: string;
  apiKey: string;
  /** The official SDK pointed at /v1 with this tenant's key: the compatibility oracle. */
  openai: OpenAI;
}

export interface TestGateway {
  app: INestApplication;
  url: string;
  config: AppConfig;
  env: Record<string, string>;
  adminToken: string;
  dataSource: DataSource;
  newTenant(name?: string): Promise<Tenant>;
  close(): Promise<void>;
}

/**
 * The environment of one test gateway: its own data directory, and on the postgres driver its own
 * database and Redis key prefix, so test files and runs never collide. `routing`, if given, is written
 * into the data directory as ROUTING_FILE (and so removed with it).
 */
export async function testEnvironment(
  overrides: Record<string, string> = {},
  routing?: RoutingFile,
): Promise<{
  env: Record<string, string>;
  cleanup: () => Promise<void>;
}> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bg-test-'));
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATA_DIR: dataDir,
    PORT: '0',
    ADMIN_TOKEN: `adm-test-${randomBytes(12).toString('hex')}`,
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    SWEEP_INTERVAL_MS: '200',
    UPSTREAM_RETRY_BASE_MS: '20',
  };
  let dropDb = async () => {};
  if (currentDriver() === 'postgres') {
    const db = await createPostgresDatabase();
    env.DATABASE_URL = db.url;
    env.REDIS_URL = TEST_REDIS_URL;
    env.REDIS_PREFIX = uniqueName('bgtest');
    dropDb = db.drop;
  }
  Object.assign(env, overrides);
  if (routing) env.ROUTING_FILE = writeRoutingFile(join(dataDir, 'routing.yaml'), routing);
  return {
    env,
    cleanup: async () => {
      await dropDb();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Starts the real gateway in this process on 127.0.0.1 with a real database (and Redis on the postgres driver), seeded with `routing` if given. */
export async function startGateway(overrides: Record<string, string> = {}, routing?: RoutingFile): Promise<TestGateway> {
  const { env, cleanup } = await testEnvironment(overrides, routing);
  const config = loadConfig(env);
  const app = await createGateway(config);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const accounts = app.get(AccountsService);
  return {
    app,
    url,
    config,
    env,
    adminToken: env.ADMIN_TOKEN,
    dataSource: app.get(DataSource),
    async newTenant(name = 'tenant') {
      const account = await accounts.createAccount(uniqueName(name));
      const key = await accounts.createApiKey(account.id);
      return {
        accountId: account.id,
        apiKey: key.secret,
        openai: new OpenAI({ apiKey: key.secret, baseURL: `${url}/v1`, maxRetries: 0 }),
      };
    },
    async close() {
      await app.close();
      await cleanup();
    },
  };
}

/** Polls `probe` until it returns a value that `done` accepts; fails with the last value after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting; last value: ${JSON.stringify(last)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, everyMs));
    last = await probe();
  }
  return last;
}
