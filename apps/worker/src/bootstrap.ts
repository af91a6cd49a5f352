import { AppConfig, QuietLogger } from '@app/core';
import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WorkerModule } from './worker.module';

/** A worker process: the same services as the gateway, without HTTP (createApplicationContext). */
export async function createWorker(config: AppConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot({ ...config, role: 'worker' }), { bufferLogs: true });
  app.useLogger(app.get(QuietLogger));
  app.enableShutdownHooks();
  return app;
}
