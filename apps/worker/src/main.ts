import 'reflect-metadata';
import { InvalidConfigError, loadConfig } from '@app/core';
import { createWorker } from '@app/worker';

/** Scale-out entry point: runs only the workers (needs DATABASE_URL and REDIS_URL). */
async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, ROLE: 'worker' });
  await createWorker(config);
}

main().catch((err: unknown) => {
  process.stderr.write(
    err instanceof InvalidConfigError ? `${err.message}\n` : `Failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
