import { APP_CONFIG, AppConfig } from '@app/core';
import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { dataSourceOptions } from './data-source-options';
import { UnitOfWork } from './transaction';

/**
 * Opens the database and runs pending migrations at boot; feature modules register their own entities.
 * Global, like the DataSource it wraps: any module's service may run a unit of work.
 */
@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({ ...dataSourceOptions(config), autoLoadEntities: true }),
    }),
  ],
  providers: [UnitOfWork],
  exports: [UnitOfWork],
})
export class PersistenceModule {}
