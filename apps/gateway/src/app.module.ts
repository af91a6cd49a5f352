import { AccountsModule } from '@app/accounts';
import { AppConfig, CoreModule } from '@app/core';
import { FilesModule } from '@app/files';
import { PersistenceModule } from '@app/persistence';
import { DynamicModule, Module } from '@nestjs/common';

/** The gateway root: REST under /v1 and /api/v1, the admin GraphQL API, and (ROLE=all) the workers. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [CoreModule.forRoot(config), PersistenceModule, AccountsModule, FilesModule],
    };
  }
}
