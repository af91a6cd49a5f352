import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '../..');

/** Node flags that run a TypeScript entry point from the sources, `@app/*` paths included. */
export const FROM_SOURCES = ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register'];

/** This process's environment without what would point a child gateway at another database, queue, route, port or ts-node setup (nor `alsoDrop`). */
export function inheritedEnv(...alsoDrop: string[]): Record<string, string> {
  const env = { ...process.env } as Record<string, string>;
  for (const key of ['DATABASE_URL', 'REDIS_URL', 'REDIS_PREFIX', 'ROLE', 'ROUTING_FILE', 'PORT', 'TS_NODE_PROJECT', 'TS_NODE_BASEURL', ...alsoDrop])
    delete env[key];
  return env;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Polls `url` every 100 ms (with `apiKey` as the bearer key) until it answers 200; fails as soon as
 * `child` exits, or after `timeoutMs`, naming it `name`, with the end of its output if `output` is given.
 */
export async function untilReady(
  child: ChildProcess,
  url: string,
  opts: { apiKey: string; timeoutMs: number; name: string; output?: () => string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const tail = () => (opts.output ? `:\n${opts.output().slice(-4000)}` : '');
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`The ${opts.name} exited (${child.exitCode ?? child.signalCode}) before it was ready${tail()}`);
    }
    const status = await fetch(url, { headers: { authorization: `Bearer ${opts.apiKey}` } }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`The ${opts.name} was not ready after ${opts.timeoutMs} ms (last status ${status})${tail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The gateway (or the worker) as a real child process, run from the sources, with all of its output
 * captured: for crash tests (SIGKILL) and for reading exactly what it logs. Its databases, role, routing,
 * log level and port come from `env` only, never from the test process's own environment.
 */
export class ChildGateway {
  private child: ChildProcess | null = null;
  output = '';
  url = '';

  constructor(
    private readonly env: Record<string, string>,
    private readonly entry = 'apps/gateway/src/main.ts',
    /** What failure messages call it (`tail()`). */
    readonly name = 'gateway',
  ) {}

  /** Starts it and waits until an authenticated GET /v1/files answers 200 (each start on a new port unless `env` sets PORT). */
  async start(apiKey: string, timeoutMs = 60_000): Promise<void> {
    const port = Number(this.env.PORT) || (await freePort());
    this.url = `http://127.0.0.1:${port}`;
    const child = this.launch({ PORT: String(port) });
    await untilReady(child, `${this.url}/v1/files`, { apiKey, timeoutMs, name: this.name, output: () => this.output });
  }

  /** Starts it without waiting for anything: for a process with no HTTP side (apps/worker), whose readiness the caller checks. */
  launch(extraEnv: Record<string, string> = {}): ChildProcess {
    const child = spawn(process.execPath, [...FROM_SOURCES, this.entry], {
      cwd: REPO_ROOT,
      env: { ...inheritedEnv('LOG_LEVEL'), ...this.env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout.on('data', (c: Buffer) => (this.output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (this.output += c.toString('utf8')));
    return child;
  }

  /** Its peak resident memory so far in MB (VmHWM from /proc, Linux only). */
  peakRssMb(): number {
    const status = readFileSync(`/proc/${this.child!.pid}/status`, 'utf8');
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status);
    if (!kb) throw new Error(`No VmHWM in /proc/${this.child!.pid}/status`);
    return Number(kb[1]) / 1024;
  }

  /** Whether the process is started and has not exited. */
  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Its name, state and the end of its output, for failure messages. */
  tail(chars = 3000): string {
    const state = !this.child ? 'not started' : this.running ? 'running' : `exited ${this.child.exitCode ?? this.child.signalCode}`;
    return `--- ${this.name} (${state}) ---\n${this.output.slice(-chars)}`;
  }

  /** Stops it with `signal` and waits for the exit (SIGKILL: no shutdown hook runs). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }
}
