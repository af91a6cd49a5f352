import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ChildGateway } from './support/child-gateway';
import { FakeUpstream, fakeRouting, startFakeUpstream } from './support/fake-upstream';
import { testEnvironment, waitFor } from './support/gateway';
import { jsonl, requestLine } from './support/jsonl';
import { BatchObject, RestClient, restClient, TERMINAL } from './support/rest-client';

/**
 * A gateway killed with SIGKILL in the middle of a batch, or in the middle of finalizing it, and
 * started again on the same data (directory, database, Redis prefix) finishes the batch with every
 * input line in exactly one of the output and error files. The gateway runs as a child process
 * straight from the sources, so the kill is a real one: no shutdown hook runs.
 *
 * On the postgres project the lines the killed process had claimed come back only when their leases
 * run out (15 s without renewal; on SQLite, one process, they are given back at boot), and its
 * finalize job through Bull's stalled-job check (15 s lock, 5 s interval), hence the long timeouts.
 */

const MODEL = 'crash-model';
const API_KEY = `sk-crash${randomBytes(12).toString('hex')}`;
const READY_TIMEOUT_MS = 60_000;
const FINISH_TIMEOUT_MS = 120_000;

jest.setTimeout(240_000);

/**
 * The request file: every 40th line is refused by the upstream (400, an error line), every 97th
 * fails once with 500 before succeeding (a retry), the rest succeed. `slowLine` answers late.
 */
function requestLines(count: number, opts: { slowLine?: number; slowMs?: number } = {}) {
  return Array.from({ length: count }, (_, i) => {
    let content = `crash test line ${i}`;
    if (i % 40 === 39) content += ' #status=400';
    else if (i % 97 === 96) content += ' #status=500x1';
    if (i === opts.slowLine) content += ` #latency=${opts.slowMs}`;
    return requestLine(i, MODEL, { messages: [{ role: 'user', content }] });
  });
}

/** Same derivation as the finalizer's stable file ids (batch-finalizer.service.ts), so the test can block one. */
function stableFileId(seed: string): string {
  const digest = createHash('sha256').update(seed).digest();
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; out.length < 24; i++) out += alphabet[digest[i % digest.length] % 62];
  return `file-${out}`;
}

describe('Crash recovery', () => {
  let upstream: FakeUpstream;
  let gateway: ChildGateway | null = null;
  let env: Record<string, string>;
  let cleanup: (() => Promise<void>) | null = null;

  beforeEach(async () => {
    upstream = await startFakeUpstream({ latencyMs: 25 });
    const environment = await testEnvironment(
      { LOG_LEVEL: 'warn', BOOTSTRAP_API_KEY: API_KEY, UPSTREAM_FAKE_KEY: 'fake-key' },
      fakeRouting(upstream.url, { model: MODEL, maxConcurrency: 8 }),
    );
    env = environment.env;
    cleanup = environment.cleanup;
  });

  afterEach(async () => {
    await gateway?.stop('SIGKILL');
    gateway = null;
    await upstream?.close();
    await cleanup?.();
    cleanup = null;
  });

  /** Waits for a terminal status, with the gateway's log tail in the failure message. */
  async function waitForEnd(api: RestClient, batchId: string): Promise<BatchObject> {
    try {
      return await waitFor(
        () => api.batch(batchId),
        (b) => TERMINAL.includes(b.status),
        FINISH_TIMEOUT_MS,
        200,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\ngateway log:\n${gateway?.output.slice(-4000)}`, { cause: err });
    }
  }

  /** Every input line is in exactly one file, with its own answer; the counts agree with the files. */
  async function expectEveryLineOnce(api: RestClient, batch: BatchObject, lines: ReturnType<typeof requestLines>) {
    const output = await api.lines(batch.output_file_id);
    const errors = await api.lines(batch.error_file_id);
    const refused = lines.filter((l) => JSON.stringify(l).includes('#status=400')).map((l) => l.custom_id);

    const seen = [...output, ...errors].map((l) => l.custom_id).sort();
    expect(seen).toEqual(lines.map((l) => l.custom_id).sort());
    expect(new Set(seen).size).toBe(lines.length);

    expect(batch.request_counts).toEqual({ total: lines.length, completed: lines.length - refused.length, failed: refused.length });
    expect(output).toHaveLength(batch.request_counts.completed);
    expect(errors).toHaveLength(batch.request_counts.failed);
    expect(errors.map((l) => l.custom_id).sort()).toEqual([...refused].sort());
    expect(new Set(errors.map((l) => `${l.response?.status_code} ${JSON.stringify(l.error)}`))).toEqual(new Set(['400 null']));

    const contentOf = new Map(lines.map((l) => [l.custom_id, (l.body.messages as { content: string }[])[0].content]));
    const mismatched = output.filter((l) => l.response?.body.choices[0].message.content !== `echo: ${contentOf.get(l.custom_id)}`);
    expect(mismatched).toEqual([]);
  }

  it('finishes a batch killed mid-run with every line exactly once', async () => {
    gateway = new ChildGateway(env);
    await gateway.start(API_KEY, READY_TIMEOUT_MS);
    const api = restClient(gateway, API_KEY);
    const lines = requestLines(1500);
    const created = await api.createBatch(await api.upload(jsonl(lines)));

    const beforeKill = await waitFor(
      () => api.batch(created.id),
      (b) => b.request_counts.completed > 0 || !['validating', 'in_progress'].includes(b.status),
      FINISH_TIMEOUT_MS,
      20,
    );
    await gateway.stop('SIGKILL');
    expect(beforeKill.status).toBe('in_progress');
    expect(beforeKill.request_counts.completed).toBeLessThan(lines.length / 2);
    const sentBeforeKill = upstream.totalRequests();
    const unfinishedAtKill = lines.length - beforeKill.request_counts.completed - beforeKill.request_counts.failed;

    await gateway.start(API_KEY, READY_TIMEOUT_MS);
    const afterRestart = await api.batch(created.id);
    expect(afterRestart.request_counts.completed).toBeGreaterThanOrEqual(beforeKill.request_counts.completed);

    const finished = await waitForEnd(api, created.id);
    expect(finished.status).toBe('completed');
    await expectEveryLineOnce(api, finished, lines);
    // After the restart only unfinished lines went upstream (plus at most one retry of each `#status=500x1` line).
    const retried = lines.filter((l) => JSON.stringify(l).includes('#status=500x1')).length;
    expect(upstream.totalRequests() - sentBeforeKill).toBeLessThanOrEqual(unfinishedAtKill + retried);
  });

  it('finishes a batch killed while finalizing with every line exactly once', async () => {
    gateway = new ChildGateway(env);
    await gateway.start(API_KEY, READY_TIMEOUT_MS);
    const api = restClient(gateway, API_KEY);
    // The slow line keeps the batch from finalizing for 1.5 s, long after the blocker below is in place.
    const lines = requestLines(400, { slowLine: 399, slowMs: 1500 });
    const created = await api.createBatch(await api.upload(jsonl(lines)));

    // A directory where the output file is to be renamed into place makes the finalizer fail after it
    // has streamed both files, every time it tries: the batch stays in `finalizing` until the kill.
    const storage = join(env.DATA_DIR, 'files');
    const outputFileId = stableFileId(`${created.id}:output`);
    const errorFileId = stableFileId(`${created.id}:error`);
    const blocker = join(storage, `${outputFileId}.jsonl`);
    mkdirSync(blocker, { recursive: true });

    await waitFor(
      async () => ({ batch: await api.batch(created.id), errorFileWritten: existsSync(join(storage, `${errorFileId}.jsonl`)) }),
      (s) => s.errorFileWritten || !['validating', 'in_progress', 'finalizing'].includes(s.batch.status),
      FINISH_TIMEOUT_MS,
      50,
    );
    const beforeKill = await api.batch(created.id);
    await gateway.stop('SIGKILL');
    expect(beforeKill.status).toBe('finalizing');
    expect(statSync(join(storage, `${errorFileId}.jsonl`)).isFile()).toBe(true);

    rmSync(blocker, { recursive: true });
    await gateway.start(API_KEY, READY_TIMEOUT_MS);
    const finished = await waitForEnd(api, created.id);
    expect(finished.status).toBe('completed');
    expect(finished.output_file_id).toBe(outputFileId);
    expect(finished.error_file_id).toBe(errorFileId);
    await expectEveryLineOnce(api, finished, lines);
  });
});
