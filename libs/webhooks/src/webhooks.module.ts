import { AccountsModule } from '@app/accounts';
import { BatchesModule } from '@app/batches';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { WebhookAttemptEntity } from './entities/webhook-attempt.entity';
import { WebhookEventEntity } from './entities/webhook-event.entity';
import { WebhookWorkers } from './webhook.workers';
import { WebhookDeliverer } from './webhook-deliverer';
import { WebhookOutbox } from './webhook-outbox';
import { WebhooksService } from './webhooks.service';

@Module({
  imports: [TypeOrmModule.forFeature([WebhookEventEntity, WebhookAttemptEntity]), AccountsModule, BatchesModule],
  providers: [WebhooksService, WebhookOutbox, WebhookDeliverer, WebhookWorkers],
  exports: [WebhooksService],
})
export class WebhooksModule {}
