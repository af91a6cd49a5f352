import 'reflect-metadata';
import { loadConfig } from './libs/core/src/config/app-config';
import { dataSourceOptions } from './libs/persistence/src/data-source-options';
import { DataSource } from 'typeorm';

/** The data source for TypeORM's migration CLI (`npm run migration:run`), configured like the app. */
export default new DataSource({
  ...dataSourceOptions(loadConfig(process.env)),
  entities: [__dirname + '/libs/*/src/**/*.entity.{ts,js}'],
  migrationsRun: false,
});
