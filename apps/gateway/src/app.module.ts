import { AccountsModule } from '@app/accounts';
import { AdminModule, ConsoleModule } from '@app/admin';
import { AppConfig, CoreModule } from '@app/core';
import { BatchesModule } from '@app/batches';
import { ExecutionModule } from '@app/execution';
import { FilesModule } from '@app/files';
import { ObservabilityModule } from '@app/observability';
import { QueueModule } from '@app/queue';
import { RoutingModule } from '@app/routing';
import { WebhooksModule } from '@app/webhooks';
import { PersistenceModule } from '@app/persistence';
import { DynamicModule, Module } from '@nestjs/common';

/** The gateway root: REST under /v1 and /api/v1, the admin GraphQL API, the operator console at /admin, and (ROLE=all) the workers. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot(config),
        PersistenceModule,
        QueueModule.forRoot(config),
        AccountsModule,
        // Before the files routes: Express tries routes in order, and `GET /v1/batches/{id}` (every SDK's
        // polling loop) is the hottest route there is.
        BatchesModule,
        FilesModule,
        RoutingModule,
        ExecutionModule,
        WebhooksModule,
        AdminModule,
        ConsoleModule,
        ObservabilityModule,
      ],
    };
  }
}
