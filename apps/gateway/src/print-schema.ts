import 'reflect-metadata';
import { ADMIN_SCHEMA_FILE, printAdminSchema } from '@app/admin';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** `npm run schema:print`: writes the admin API's schema for the console's type generation. */
async function main(): Promise<void> {
  const file = resolve(process.argv[2] ?? ADMIN_SCHEMA_FILE);
  writeFileSync(file, await printAdminSchema());
  process.stdout.write(`Wrote ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
