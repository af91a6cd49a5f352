import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ADMIN_SCHEMA_FILE, printAdminSchema } from './admin-schema';

describe('printAdminSchema', () => {
  it('matches the committed schema the console generates its types from (run "npm run schema:print" after changing the API)', async () => {
    const committed = readFileSync(resolve(__dirname, '../../..', ADMIN_SCHEMA_FILE), 'utf8');
    expect(committed).toBe(await printAdminSchema());
  });
});
