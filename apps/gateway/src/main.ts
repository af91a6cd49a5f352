import 'reflect-metadata';
import { InvalidConfigError, loadConfig } from '@app/core';
import { createGateway } from './bootstrap';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const app = await createGateway(config);
  await app.listen(config.port);
}

main().catch((err) => {
  if (err instanceof InvalidConfigError) {
    process.stderr.write(`${err.message}\n`);
  } else {
    process.stderr.write(`Failed to start: ${err?.stack ?? err}\n`);
  }
  process.exit(1);
});
