import { AppConfig } from '@app/core';
import { BullModule } from '@nestjs/bull';
import { DynamicModule, Global, Module } from '@nestjs/common';
import { BullJobQueue } from './drivers/bull.queue';
import { InProcessJobQueue } from './drivers/in-process.queue';
import { JobQueue } from './job-queue';
import { JOBS } from './queue.constants';

/**
 * Bull's lock and stalled-job settings, chosen deliberately: a job's lock is renewed every 5 s and
 * expires after 15 s, and every 5 s workers look for jobs whose lock expired (a dead worker's) and
 * take them back; a job may stall that way 5 times before Bull gives up on it.
 */
const QUEUE_SETTINGS = { lockDuration: 15_000, lockRenewTime: 5_000, stalledInterval: 5_000, maxStalledCount: 5 };

/** The queue port with the driver the configuration selects: Bull when REDIS_URL is set, else in-process. */
@Global()
@Module({})
export class QueueModule {
  static forRoot(config: AppConfig): DynamicModule {
    if (!config.redisUrl) {
      return { module: QueueModule, providers: [{ provide: JobQueue, useClass: InProcessJobQueue }], exports: [JobQueue] };
    }
    return {
      module: QueueModule,
      imports: [
        BullModule.forRoot({ url: config.redisUrl, prefix: config.redisPrefix, settings: QUEUE_SETTINGS }),
        BullModule.registerQueue(...Object.values(JOBS).map((name) => ({ name }))),
      ],
      providers: [{ provide: JobQueue, useClass: BullJobQueue }],
      exports: [JobQueue],
    };
  }
}
