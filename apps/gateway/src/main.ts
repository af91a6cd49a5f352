import 'reflect-metadata';
import { InvalidConfigError, loadConfig } from '@app/core';
import { Logger } from '@nestjs/common';
import { createWorker } from '@app/worker';
import { createGateway } from './bootstrap';

/** ROLE=all (default) serves HTTP and runs the workers; ROLE=api serves HTTP only; ROLE=worker runs workers only. */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  if (config.role === 'worker') {
    await createWorker(config);
    return;
  }
  const app = await createGateway(config);
  await app.listen(config.port);
  new Logger('Main').log(
    { port: config.port, role: config.role, database: config.databaseUrl ? 'postgres' : 'sqlite', queue: config.redisUrl ? 'bull' : 'in-process' },
    'Batch Gateway listening',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(
    err instanceof InvalidConfigError ? `${err.message}\n` : `Failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
