import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { CountReply, CountRequest } from './token-count.protocol';

/**
 * Starts the worker from its compiled `.js` beside this file, or, when the app runs from the TypeScript
 * sources (ts-node, jest), from the `.ts` with ts-node's transpiler (a worker does not inherit jest's).
 */
const BOOT = `
const { workerData } = require('node:worker_threads');
if (workerData.entry.endsWith('.ts') && !require.extensions['.ts']) {
  require('ts-node').register({ transpileOnly: true, compilerOptions: { module: 'commonjs' } });
}
require(workerData.entry);
`;

/** The input tokens of a file and how many request lines they came from. */
export interface TokenCount {
  tokens: number;
  lines: number;
}

/** A count cut short because the process is shutting down (the next create that needs it counts again). */
export class CountAborted extends Error {}

/** An idle worker is stopped after this long: its tokenizer tables (about 70 MB for o200k_base) are given back. */
const IDLE_STOP_MS = 30_000;

type Waiter = { resolve: (reply: CountReply) => void; reject: (err: Error) => void };

/**
 * Counts a request file's input tokens in one worker thread per process, off the event loop that serves
 * HTTP: the file is streamed from storage chunk by chunk, each chunk waits for the worker's
 * acknowledgement (so at most one chunk per file is in flight), and never held whole.
 */
@Injectable()
export class TokenCounter implements OnModuleDestroy {
  private readonly logger = new Logger(TokenCounter.name);
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  private closed = false;
  private idleTimer: NodeJS.Timeout | null = null;

  async count(source: Readable): Promise<TokenCount> {
    const id = this.nextId++;
    try {
      for await (const chunk of source) {
        // A copy the worker can take over (the stream's buffer may be a slice of a shared pool).
        const copy = new Uint8Array(chunk as Buffer);
        const reply = await this.send({ id, chunk: copy }, [copy.buffer]);
        if ('error' in reply) throw new Error(`Token counting failed: ${reply.error}`);
      }
    } catch (err) {
      source.destroy();
      // Let the worker forget the job (a worker that died forgot it already).
      if (this.worker) await this.send({ id }).catch(() => undefined);
      throw err;
    }
    const reply = await this.send({ id });
    if ('error' in reply) throw new Error(`Token counting failed: ${reply.error}`);
    if (!('tokens' in reply)) throw new Error('Token counting: unexpected reply');
    return { tokens: reply.tokens, lines: reply.lines };
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = null;
    this.rejectAll(new CountAborted('Token counting stopped: the process is shutting down'));
    if (worker) await worker.terminate();
  }

  private send(message: CountRequest, transfer: ArrayBuffer[] = []): Promise<CountReply> {
    const worker = this.start();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    return new Promise<CountReply>((resolve, reject) => {
      this.waiting.set(message.id, { resolve, reject });
      worker.postMessage(message, transfer);
    });
  }

  private rejectAll(err: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(err);
    this.waiting.clear();
  }

  /** Stops the worker once nothing has been sent to it for IDLE_STOP_MS (a job in the middle of a file always has a chunk on the way). */
  private stopWhenIdle(worker: Worker): void {
    if (this.waiting.size > 0 || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.worker !== worker || this.waiting.size > 0) return;
      this.worker = null;
      void worker.terminate();
    }, IDLE_STOP_MS);
    this.idleTimer.unref();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    if (this.closed) throw new CountAborted('Token counting stopped: the process is shutting down');
    const entry = join(__dirname, `token-count.worker${extname(__filename)}`);
    const worker = new Worker(BOOT, { eval: true, workerData: { entry } });
    // Counting never keeps the process alive on its own.
    worker.unref();
    worker.on('message', (reply: CountReply) => {
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      waiter?.resolve(reply);
      if (!('ack' in reply)) this.stopWhenIdle(worker);
    });
    const fail = (err: Error) => {
      // Only the current worker has jobs waiting (one stopped for idleness or at shutdown has none left).
      if (this.worker !== worker) return;
      this.worker = null;
      this.rejectAll(err);
    };
    worker.on('error', (err) => {
      this.logger.error({ err }, 'The token counting worker failed');
      fail(err);
    });
    worker.on('exit', (code) => fail(new Error(`The token counting worker exited (${code})`)));
    this.worker = worker;
    return worker;
  }
}
