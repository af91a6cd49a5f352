import { AccountsModule } from '@app/accounts';
import { AppConfig, CoreModule } from '@app/core';
import { ExecutionModule } from '@app/execution';
import { PersistenceModule } from '@app/persistence';
import { QueueModule } from '@app/queue';
import { WebhooksModule } from '@app/webhooks';
import { DynamicModule, Module } from '@nestjs/common';

/** The worker root: execution, finalizing, expiry and webhook delivery; no HTTP. */
@Module({})
export class WorkerModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [CoreModule.forRoot(config), PersistenceModule, QueueModule.forRoot(config), AccountsModule, ExecutionModule, WebhooksModule],
    };
  }
}
