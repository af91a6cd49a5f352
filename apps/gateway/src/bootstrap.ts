import { AppConfig, QuietLogger } from '@app/core';
import { serveOpenApi } from '@app/observability';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';

/** Builds the HTTP application exactly as `main.ts` runs it; the end-to-end tests use the same function. */
export async function createGateway(config: AppConfig): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { bufferLogs: true });
  app.useLogger(app.get(QuietLogger));
  app.useBodyParser('json', { limit: '1mb' });
  app.disable('x-powered-by');
  app.enableShutdownHooks();
  serveOpenApi(app);
  return app;
}
