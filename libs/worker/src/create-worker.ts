import { AppConfig, Metrics, QuietLogger } from '@app/core';
import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { createServer, Server } from 'node:http';
import { WorkerModule } from './worker.module';

/**
 * A worker process (ROLE=worker, from either app's entry point): the same services as the gateway, without the API (createApplicationContext).
 * It still answers `GET /healthz` and `GET /metrics` on PORT, so its upstream and webhook counters can
 * be scraped.
 */
export async function createWorker(config: AppConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot({ ...config, role: 'worker' }), { bufferLogs: true });
  app.useLogger(app.get(QuietLogger));
  app.enableShutdownHooks();
  const metrics = app.get(Metrics);
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (req.method === 'GET' && req.url === '/metrics') {
      metrics.scrape().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    }
  });
  await new Promise<void>((resolve) => server.listen(config.port, resolve));
  const close = app.close.bind(app);
  app.close = async () => {
    server.close();
    await close();
  };
  return app;
}
