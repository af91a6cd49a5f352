import { execFile } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

/**
 * The official `openai` Python SDK, in a virtual environment at test/python/.venv (`.ci/run` makes it
 * from test/python/requirements.txt before `npm test`), and a way to run the driver script with it.
 * Everything here is asynchronous: the gateway under test serves from this same process, so a
 * synchronous child would stall it.
 */

const run = promisify(execFile);

export const PYTHON_DIR = resolve(__dirname, '..', 'python');
const VENV = join(PYTHON_DIR, '.venv');
export const VENV_PYTHON = join(VENV, 'bin', 'python');

/** Seconds a fresh venv and its packages may take (pip gives up on an unreachable index after a retry). */
const INSTALL_TIMEOUT_MS = 280_000;

/**
 * The venv's python, with the pinned SDK importable. A machine that has not run `.ci/run` gets the venv
 * built here: in a folder of its own, renamed into place only once installed, so two jest projects
 * starting together never see (or leave) a half-built one.
 */
export async function ensurePythonSdk(): Promise<string> {
  if (!existsSync(VENV_PYTHON)) {
    const building = join(PYTHON_DIR, `.venv-building-${process.pid}`);
    rmSync(building, { recursive: true, force: true });
    try {
      await run('python3', ['-m', 'venv', building], { timeout: INSTALL_TIMEOUT_MS });
      await run(join(building, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--retries', '1', '-r', join(PYTHON_DIR, 'requirements.txt')], {
        timeout: INSTALL_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
      });
      if (!existsSync(VENV_PYTHON)) renameSync(building, VENV);
    } catch (err) {
      if (!existsSync(VENV_PYTHON))
        throw new Error(`could not build ${VENV} (run .ci/run, or python3 -m venv + pip install -r test/python/requirements.txt): ${explain(err)}`, {
          cause: err,
        });
    } finally {
      rmSync(building, { recursive: true, force: true });
    }
  }
  try {
    await run(VENV_PYTHON, ['-c', 'import openai']);
  } catch (err) {
    throw new Error(`${VENV_PYTHON} cannot import openai (delete ${VENV} and run .ci/run again): ${explain(err)}`, { cause: err });
  }
  return VENV_PYTHON;
}

/**
 * Runs `test/python/<script> ...args` with the venv's python and `env` alone (no OPENAI_* or proxy
 * variables of the test process leak in) and returns the JSON object it prints last on stdout.
 * A non-zero exit fails with its stderr, where the script's traceback is.
 */
export async function runPython<T = any>(script: string, args: string[], env: Record<string, string>, timeoutMs = 150_000): Promise<T> {
  const cleanEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', ...env };
  let stdout: string;
  try {
    ({ stdout } = await run(VENV_PYTHON, [join(PYTHON_DIR, script), ...args], { env: cleanEnv, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }));
  } catch (err) {
    throw new Error(`python ${script} ${args.join(' ')} failed: ${explain(err)}`, { cause: err });
  }
  const last = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`python ${script} ${args.join(' ')} printed no JSON object last; stdout:\n${stdout.slice(-4000)}`);
  }
}

function explain(err: unknown): string {
  const e = err as { code?: string | number | null; signal?: string | null; stderr?: string; message?: string };
  const stderr = e.stderr?.trim();
  return `exit ${e.code ?? '?'}${e.signal ? ` (${e.signal})` : ''}\n${stderr ? stderr.slice(-6000) : (e.message ?? String(err))}`;
}
