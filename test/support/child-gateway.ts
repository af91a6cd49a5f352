import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

const REPO_ROOT = resolve(__dirname, '../..');

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
 * The gateway (or the worker) as a real child process, run from the sources, with all of its output
 * captured: for crash tests (SIGKILL) and for reading exactly what it logs.
 */
export class ChildGateway {
  private child: ChildProcess | null = null;
  output = '';
  url = '';

  constructor(
    private readonly env: Record<string, string>,
    private readonly entry = 'apps/gateway/src/main.ts',
  ) {}

  /** Starts it and waits until `ready` (by default: an authenticated GET /v1/files answers 200). */
  async start(apiKey: string, timeoutMs = 60_000): Promise<void> {
    const port = Number(this.env.PORT) || (await freePort());
    this.url = `http://127.0.0.1:${port}`;
    const inherited = { ...process.env } as Record<string, string>;
    for (const key of ['DATABASE_URL', 'REDIS_URL', 'REDIS_PREFIX', 'ROLE', 'ROUTING_FILE', 'LOG_LEVEL']) delete inherited[key];
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', this.entry], {
      cwd: REPO_ROOT,
      env: { ...inherited, ...this.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout!.on('data', (c: Buffer) => (this.output += c.toString('utf8')));
    child.stderr!.on('data', (c: Buffer) => (this.output += c.toString('utf8')));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`The gateway exited before it was ready:\n${this.output.slice(-4000)}`);
      }
      const status = await fetch(`${this.url}/v1/files`, { headers: { authorization: `Bearer ${apiKey}` } }).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) return;
      if (Date.now() > deadline) throw new Error(`The gateway was not ready in time:\n${this.output.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops it with `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }
}
