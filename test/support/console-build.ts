import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const REPO_ROOT = resolve(__dirname, '../..');
const CONSOLE_SRC = join(REPO_ROOT, 'apps/console');
/** Where `npm run build:console` writes the console, and where the browser suite's gateway serves it from. */
export const CONSOLE_DIR = join(REPO_ROOT, 'dist/console');

/** The newest modification time under `path` (a file or a directory), skipping the generated types. */
function newest(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path)
    .filter((name) => name !== 'gql' && name !== 'node_modules')
    .reduce((latest, name) => Math.max(latest, newest(join(path, name))), stat.mtimeMs);
}

/**
 * Builds the console (`npm run build:console`: types from the schema, then Vite) unless dist/console is
 * newer than every source of it, so a fresh clone and an edited console are both tested as built.
 */
export function ensureConsoleBuilt(): void {
  const index = join(CONSOLE_DIR, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newest(CONSOLE_SRC)) return;
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const build = spawnSync(npm, ['run', 'build:console'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: 'pipe' });
  if (build.status !== 0) throw new Error(`npm run build:console failed (${build.status ?? build.signal}):\n${build.stdout}\n${build.stderr}`);
}
