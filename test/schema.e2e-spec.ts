import 'reflect-metadata';
import { dataSourceOptions, MIGRATIONS } from '@app/persistence';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { createPostgresDatabase, currentDriver } from './support/databases';

/** CI fails when an entity changes without a migration: after migrating, TypeORM must see nothing to change. */
describe('Schema', () => {
  it('migrations create exactly the schema the entities describe, and revert cleanly', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'bg-schema-'));
    const db = currentDriver() === 'postgres' ? await createPostgresDatabase() : null;
    const dataSource = new DataSource({
      ...dataSourceOptions({ dataDir, databaseUrl: db?.url }),
      entities: [join(__dirname, '../libs/*/src/**/*.entity.ts')],
    });
    try {
      await dataSource.initialize();
      expect(dataSource.entityMetadatas.length).toBeGreaterThanOrEqual(10);
      const pending = await dataSource.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
      for (let i = 0; i < MIGRATIONS.length; i++) await dataSource.undoLastMigration();
      expect(
        await dataSource.query(
          currentDriver() === 'postgres' ? "SELECT to_regclass('public.batches') AS t" : "SELECT name AS t FROM sqlite_master WHERE name = 'batches'",
        ),
      ).toEqual(currentDriver() === 'postgres' ? [{ t: null }] : []);
    } finally {
      if (dataSource.isInitialized) await dataSource.destroy();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
