import { APP_CONFIG, AppConfig } from '@app/core';
import { JobQueue, JOBS } from '@app/queue';
import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { WebhookDeliverer } from './webhook-deliverer';
import { WebhookOutbox } from './webhook-outbox';

const RELAY_EVERY_MS = 15_000;

/** In worker roles: consumes delivery jobs and runs the outbox relay. */
@Injectable()
export class WebhookWorkers implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly queue: JobQueue,
    private readonly outbox: WebhookOutbox,
    private readonly deliverer: WebhookDeliverer,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.role === 'api') return;
    this.queue.process(JOBS.deliverWebhook, 4, (job) => this.deliverer.deliver(job.eventId));
    await this.outbox.resumePending();
    this.timer = setInterval(() => void this.outbox.relay().catch(() => undefined), RELAY_EVERY_MS);
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
