import { AppConfig, EnvelopeExpressAdapter, QuietLogger, RequestTelemetry } from '@app/core';
import { serveOpenApi } from '@app/observability';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';

/** Builds the HTTP application exactly as `main.ts` runs it; the end-to-end tests use the same function. */
export async function createGateway(config: AppConfig): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), new EnvelopeExpressAdapter(), { bufferLogs: true });
  app.useLogger(app.get(QuietLogger));
  // First of all, so that every answer (a refused body, an unknown route) is counted and carries its request id.
  app.use(app.get(RequestTelemetry).middleware);
  app.useBodyParser('json', { limit: '1mb' });
  app.disable('x-powered-by');
  // No ETag on JSON answers: no client of this API revalidates, and it hashed every polled batch object.
  app.set('etag', false);
  app.enableShutdownHooks();
  serveOpenApi(app);
  return app;
}
