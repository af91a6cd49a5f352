import { BatchJobs, BatchRun, BatchRuns, TERMINAL_STATUSES } from '@app/batches';
import { APP_CONFIG, AppConfig, Clock, Metrics, randomToken } from '@app/core';
import { FilesService } from '@app/files';
import { Transaction, UnitOfWork } from '@app/persistence';
import { Provider, RoutingService } from '@app/routing';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import type { BatchExecutor } from '../batch-executor';
import { FinishedRow, RequestRowsService } from '../request-rows.service';
import { providerBatchLine } from '../upstream-request';
import { noAnswer, plainText } from '../upstream/outcome';
import { REQUEST_ERROR_CODES } from '../upstream/upstream-client';
import { Ticker } from '../ticker';
import { WorkerPresence } from '../worker-presence';
import { ProviderBatchApi, ProviderRefusal, ProviderUnavailable, REMOTE_TERMINAL, RemoteBatch } from './provider-batch-api';
import { PartState, ProviderBatchEntity } from './provider-batch.entity';
import { PartKey, partName, ProviderBatches } from './provider-batches.repository';
import { recordResultFile } from './result-file';

/** How often due parts and halting batches are looked up. */
const TICK_MS = 500;
/** Parts one worker process works on at once (uploads, polls, collections). */
const MAX_STEPS = 4;
/** The longest wait before a part is tried again after provider trouble. */
const MAX_BACKOFF_MS = 10 * 60_000;
/** Provider batches created up to this long before our first create are looked at for adoption (clock skew). */
const ADOPT_SKEW_S = 600;
/** Pages of the provider's batch list read when looking for a batch to adopt. */
const ADOPT_MAX_PAGES = 50;
const COMPLETION_WINDOW = '24h';

/**
 * The provider-batch executor: a batch routed to a provider with `batch_api` runs on the provider's
 * own Files + Batches API. At prepare its lines are split into parts (contiguous ranges within the
 * provider's max_batch_lines and max_batch_bytes). A worker claims a due part and moves it one step:
 *
 * - pending → submitted: writes the part's lines (body.model rewritten, custom_id kept) to a file,
 *   uploads it, records the file id, records that a create is starting, and creates the provider
 *   batch with metadata naming our batch and the part. After a crash anywhere in between, a part whose
 *   create may have reached the provider is first looked up in the provider's batch list by that
 *   metadata and adopted, so no part is ever submitted twice.
 * - submitted: polls it every batch_poll_interval_ms (backing off after failures: a failed poll is
 *   never a failed batch), mirrors its counts into the batch's request_counts, and once it has ended
 *   streams its output and error files, recording each line by custom_id exactly once (request rows
 *   leave `pending` once), then deletes the provider's files. Lines it did not report end as
 *   `upstream_missing_result`; a part it refused or failed ends as `upstream_batch_failed`.
 *
 * Cancel and expiry are forwarded to every live provider batch; the batch is finalized (the rest
 * becoming batch_cancelled / batch_expired) once they have ended and been collected, or after
 * PROVIDER_BATCH_CANCEL_GRACE_MS.
 */
@Injectable()
export class ProviderBatchExecutor implements BatchExecutor {
  readonly mode = 'provider_batch' as const;
  private readonly logger = new Logger(ProviderBatchExecutor.name);
  private readonly apis = new Map<string, { signature: string; api: ProviderBatchApi }>();
  private readonly steps = new Map<string, Promise<void>>();
  private abort = new AbortController();
  private readonly ticker = new Ticker(
    TICK_MS,
    () => this.tick(),
    (err) => this.logger.warn({ err: err.message }, 'Provider batch tick failed; will try again'),
  );

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly presence: WorkerPresence,
    private readonly parts: ProviderBatches,
    private readonly batches: BatchRuns,
    private readonly routing: RoutingService,
    private readonly rows: RequestRowsService,
    private readonly files: FilesService,
    private readonly jobs: BatchJobs,
    private readonly metrics: Metrics,
    private readonly clock: Clock,
    private readonly unitOfWork: UnitOfWork,
  ) {}

  async start(): Promise<void> {
    this.abort = new AbortController();
    this.ticker.start();
  }

  async stop(): Promise<void> {
    await this.ticker.stop();
    // Calls in flight are dropped; each step is safe to run again from what it recorded.
    this.abort.abort();
    await Promise.allSettled(this.steps.values());
    await this.parts.releaseAll(this.presence.owner).catch(() => undefined);
    await Promise.all([...this.apis.values()].map(({ api }) => api.close()));
    this.apis.clear();
  }

  wake(): void {
    this.ticker.wake();
  }

  /** Splits the batch into parts within the provider's limits; a batch already split keeps its parts. */
  async plan(batch: BatchRun): Promise<void> {
    if ((await this.parts.forBatch(batch.id)).length > 0) return;
    const provider = await this.routing.getProvider(batch.providerId);
    // A line is sent re-serialised with the upstream model: never longer than stored plus the model name.
    const extra = Buffer.byteLength(batch.upstreamModel) + 1;
    const ranges: { firstLine: number; lastLine: number }[] = [];
    let current: { firstLine: number; lastLine: number; lines: number; bytes: number } | null = null;
    for await (const row of this.rows.inRange(batch.id, 1, batch.total)) {
      const size = row.byteLength + extra;
      if (current && (current.lines + 1 > provider.maxBatchLines || current.bytes + size > provider.maxBatchBytes)) {
        ranges.push({ firstLine: current.firstLine, lastLine: current.lastLine });
        current = null;
      }
      current ??= { firstLine: row.line, lastLine: row.line, lines: 0, bytes: 0 };
      current.lastLine = row.line;
      current.lines += 1;
      current.bytes += size;
    }
    if (current) ranges.push({ firstLine: current.firstLine, lastLine: current.lastLine });
    await this.parts.plan(batch.id, provider.id, ranges, Date.now());
    this.logger.log({ batchId: batch.id, provider: provider.id, parts: ranges.length }, 'Batch split into provider batches');
  }

  /** Nothing left to wait for: every part has ended here, or the grace after the stop has passed. */
  async settled(batch: BatchRun): Promise<boolean> {
    if ((await this.parts.countOpen(batch.id)) === 0) return true;
    const since = batch.status === 'cancelling' ? batch.cancellingAt : batch.expiresAt;
    return since !== null && this.clock.nowSeconds() - since >= this.config.execution.providerBatchCancelGraceMs / 1000;
  }

  private async tick(): Promise<void> {
    const halting = await this.batches.haltingOnProviders();
    await this.parts.dueForCancel(
      halting.map((b) => b.id),
      Date.now(),
    );
    for (const batch of halting) {
      if (await this.settled(batch)) await this.jobs.finalize(batch.id);
    }
    const free = MAX_STEPS - this.steps.size;
    if (free <= 0) return;
    const claimed = await this.parts.claimDue(this.presence.owner, Date.now(), free, new Set(this.steps.keys()));
    for (const part of claimed) {
      const name = partName(part);
      this.steps.set(
        name,
        this.work(part).finally(() => this.steps.delete(name)),
      );
    }
  }

  /** One step of a claimed part; it is released with its next due time whatever happens. */
  private async work(part: ProviderBatchEntity): Promise<void> {
    const key: PartKey = { batchId: part.batchId, part: part.part };
    let interval = 30_000;
    try {
      const batch = await this.batches.get(part.batchId);
      if (!batch) {
        await this.parts.release(key, this.presence.owner, Date.now(), { state: 'skipped', error: 'The batch no longer exists' });
        return;
      }
      const provider = await this.routing.getProvider(part.providerId);
      interval = provider.batchPollIntervalMs;
      const nextInMs = await this.step(part, batch, provider, this.api(provider));
      await this.parts.release(key, this.presence.owner, Date.now() + (nextInMs ?? 0), { failures: 0 });
      if (nextInMs === null) await this.afterClosed(batch);
    } catch (err) {
      const aborted = this.abort.signal.aborted;
      const failures = aborted ? part.failures : part.failures + 1;
      const backoff = aborted ? 0 : Math.min(MAX_BACKOFF_MS, interval * 2 ** Math.min(failures - 1, 20));
      const message = plainText((err as Error).message, 500);
      if (!aborted)
        this.logger.warn({ batchId: part.batchId, part: part.part, failures, retryInMs: backoff, err: message }, 'Provider batch step failed; will try again');
      await this.parts
        .release(key, this.presence.owner, Date.now() + backoff, { failures, error: message })
        .catch((e) => this.logger.warn({ batchId: part.batchId, part: part.part, err: (e as Error).message }, 'Could not release a provider batch part'));
    }
  }

  /** Moves the part one step; returns when it is next due (ms from now), or null once it has closed. */
  private async step(part: ProviderBatchEntity, batch: BatchRun, provider: Provider, api: ProviderBatchApi): Promise<number | null> {
    // Finalizing: every line is recorded already, so no part can still be open; treated as ended all the same.
    const ended = batch.status === 'finalizing' || TERMINAL_STATUSES.includes(batch.status);
    const halting = ended || batch.status === 'cancelling' || batch.stopReason !== null;
    if (part.state === 'pending') {
      if (halting) {
        await this.close(part, 'skipped', 'The batch halted (cancelled or expired) before this part was submitted');
        await this.deleteFiles(api, part, [part.providerFileId]);
        return null;
      }
      return this.submit(part, batch, provider, api);
    }
    if (halting && part.cancelRequestedAt === null && !REMOTE_TERMINAL.has(part.providerStatus ?? '')) {
      await this.forwardCancel(part, api);
    }
    if (!REMOTE_TERMINAL.has(part.providerStatus ?? '')) {
      const remote = await this.poll(part, provider, api);
      if (!REMOTE_TERMINAL.has(remote.status)) return provider.batchPollIntervalMs;
    }
    if (ended) {
      await this.close(part, 'skipped', 'The batch ended before this provider batch did; its results were not collected');
      await this.deleteFiles(api, part, [part.providerFileId, part.outputFileId, part.errorFileId]);
      return null;
    }
    await this.collect(part, batch, provider, api);
    return null;
  }

  private async submit(part: ProviderBatchEntity, batch: BatchRun, provider: Provider, api: ProviderBatchApi): Promise<number | null> {
    const key: PartKey = { batchId: part.batchId, part: part.part };
    const signal = this.abort.signal;
    const metadata = { gateway_batch_id: batch.id, gateway_part: String(part.part) };
    if (part.createStartedAt !== null) {
      const found = await this.findSubmitted(api, metadata, part.createStartedAt - ADOPT_SKEW_S);
      if (found) {
        if (part.providerFileId && found.input_file_id && found.input_file_id !== part.providerFileId) await this.deleteFiles(api, part, [part.providerFileId]);
        await this.submitted(part, found, provider);
        this.metrics.providerBatchSubmissions.inc({ provider: provider.id, outcome: 'adopted' });
        this.logger.log({ batchId: batch.id, part: part.part, providerBatchId: found.id }, 'Provider batch adopted after a restart');
        return provider.batchPollIntervalMs;
      }
    }
    let fileId = part.providerFileId;
    if (!fileId) {
      const file = await this.writePartFile(part, batch);
      try {
        if (file.lines === 0) {
          // Every line of the part was already recorded (or could not be run): nothing to submit.
          await this.close(part, 'collected', null);
          return null;
        }
        fileId = (await api.uploadFile(file.path, `batch-gateway-${batch.id}-part${part.part}.jsonl`, signal)).id;
      } catch (err) {
        if (err instanceof ProviderRefusal) {
          await this.refuse(part, provider, `The provider refused the upload of this part: ${err.message}`);
          return null;
        }
        throw err;
      } finally {
        await rm(file.path, { force: true });
      }
      await this.parts.update(key, { providerFileId: fileId });
      part.providerFileId = fileId;
    }
    if (part.createStartedAt === null) {
      part.createStartedAt = this.clock.nowSeconds();
      await this.parts.update(key, { createStartedAt: part.createStartedAt });
    }
    let remote: RemoteBatch;
    try {
      remote = await api.createBatch({ input_file_id: fileId, endpoint: batch.endpoint, completion_window: COMPLETION_WINDOW, metadata }, signal);
    } catch (err) {
      if (!(err instanceof ProviderRefusal)) throw err;
      await this.refuse(part, provider, `The provider refused this part: ${err.message}`);
      await this.deleteFiles(api, part, [fileId]);
      return null;
    }
    await this.submitted(part, remote, provider);
    this.metrics.providerBatchSubmissions.inc({ provider: provider.id, outcome: 'created' });
    this.logger.log(
      { batchId: batch.id, part: part.part, lines: part.lastLine - part.firstLine + 1, providerBatchId: remote.id },
      'Part submitted to the provider',
    );
    return provider.batchPollIntervalMs;
  }

  /** The provider batch created for this part before a restart, if any (found by its metadata, newest first). */
  private async findSubmitted(api: ProviderBatchApi, metadata: Record<string, string>, since: number): Promise<RemoteBatch | null> {
    let after: string | null = null;
    for (let page = 0; page < ADOPT_MAX_PAGES; page++) {
      const list = await api.listBatches(after, this.abort.signal);
      for (const remote of list.data) {
        if (remote.metadata?.gateway_batch_id === metadata.gateway_batch_id && remote.metadata?.gateway_part === metadata.gateway_part) return remote;
      }
      const oldest = list.data[list.data.length - 1];
      if (!list.has_more || !oldest || (oldest.created_at !== undefined && oldest.created_at < since)) return null;
      after = list.last_id ?? oldest.id;
    }
    return null;
  }

  /** Writes the part's lines still pending, as the provider takes them, to a file of its own; lines that cannot run are recorded as error lines. */
  private async writePartFile(part: ProviderBatchEntity, batch: BatchRun): Promise<{ path: string; lines: number }> {
    const dir = join(this.config.dataDir, 'tmp');
    await mkdir(dir, { recursive: true });
    const path = join(dir, `provider-part-${batch.id}-${part.part}-${randomToken(6)}.jsonl`);
    const out = createWriteStream(path);
    const invalid: FinishedRow[] = [];
    let lines = 0;
    try {
      for await (const row of this.rows.inRange(batch.id, part.firstLine, part.lastLine)) {
        if (!row.pending) continue;
        const request = providerBatchLine(await this.files.readLine(batch.inputFileId, row.byteOffset, row.byteLength), batch.upstreamModel, batch.endpoint);
        if ('invalid' in request) {
          invalid.push({ line: row.line, outcome: { ...noAnswer(REQUEST_ERROR_CODES.invalidLine, request.invalid), attempts: 0, latencyMs: null } });
          continue;
        }
        lines += 1;
        if (!out.write(`${request.json}\n`)) await once(out, 'drain');
      }
      out.end();
      await finished(out);
    } catch (err) {
      out.destroy();
      await rm(path, { force: true });
      throw err;
    }
    if (invalid.length > 0) await this.rows.finish(batch.id, invalid);
    return { path, lines };
  }

  private async submitted(part: ProviderBatchEntity, remote: RemoteBatch, provider: Provider): Promise<void> {
    await this.parts.update(
      { batchId: part.batchId, part: part.part },
      {
        state: 'submitted',
        providerBatchId: remote.id,
        providerFileId: remote.input_file_id ?? part.providerFileId,
        providerStatus: remote.status,
        providerTotal: remote.request_counts?.total ?? 0,
        error: null,
      },
    );
    Object.assign(part, { state: 'submitted', providerBatchId: remote.id, providerStatus: remote.status });
    if (REMOTE_TERMINAL.has(remote.status)) await this.poll(part, provider, this.api(provider), remote);
  }

  /** Reads the provider batch's status and counts (or takes `known`), and mirrors them into the part and the batch. */
  private async poll(part: ProviderBatchEntity, provider: Provider, api: ProviderBatchApi, known?: RemoteBatch): Promise<RemoteBatch> {
    let remote = known;
    if (!remote) {
      try {
        remote = await api.getBatch(part.providerBatchId!, this.abort.signal);
        this.metrics.providerBatchPolls.inc({ provider: provider.id, outcome: 'ok' });
      } catch (err) {
        this.metrics.providerBatchPolls.inc({ provider: provider.id, outcome: 'failed' });
        // A poll the provider refuses (404, 401) says nothing about the batch: tried again later, like any other failed poll.
        if (err instanceof ProviderRefusal)
          throw new ProviderUnavailable(`Polling provider batch ${part.providerBatchId} was refused (HTTP ${err.status}): ${err.message}`);
        throw err;
      }
    }
    const counts = remote.request_counts ?? {};
    const patch = {
      providerStatus: plainText(String(remote.status), 32),
      providerTotal: Number(counts.total) || 0,
      providerCompleted: Number(counts.completed) || 0,
      providerFailed: Number(counts.failed) || 0,
      outputFileId: remote.output_file_id ?? null,
      errorFileId: remote.error_file_id ?? null,
      lastPolledAt: this.clock.nowSeconds(),
      error: remote.status === 'failed' ? describeFailure(remote) : null,
    };
    await this.unitOfWork.run(async (tx) => {
      await this.parts.update({ batchId: part.batchId, part: part.part }, patch, tx);
      await this.mirrorCounts(tx, part.batchId);
    });
    Object.assign(part, patch);
    return remote;
  }

  private async forwardCancel(part: ProviderBatchEntity, api: ProviderBatchApi): Promise<void> {
    try {
      await api.cancelBatch(part.providerBatchId!, this.abort.signal);
    } catch (err) {
      // Refused: it has already ended (or is ending); the poll that follows says how.
      if (!(err instanceof ProviderRefusal)) throw err;
    }
    part.cancelRequestedAt = this.clock.nowSeconds();
    await this.parts.update({ batchId: part.batchId, part: part.part }, { cancelRequestedAt: part.cancelRequestedAt });
    this.logger.log({ batchId: part.batchId, part: part.part, providerBatchId: part.providerBatchId }, 'Cancel forwarded to the provider batch');
  }

  /** The provider batch has ended: records its results, then closes the part and deletes the provider's files. */
  private async collect(part: ProviderBatchEntity, batch: BatchRun, provider: Provider, api: ProviderBatchApi): Promise<void> {
    const key: PartKey = { batchId: part.batchId, part: part.part };
    const pending = new Map<string, number[]>();
    for await (const row of this.rows.inRange(batch.id, part.firstLine, part.lastLine)) {
      if (!row.pending) continue;
      const queue = pending.get(row.customId);
      if (queue) queue.push(row.line);
      else pending.set(row.customId, [row.line]);
    }
    const record = (finished: FinishedRow[]) =>
      this.rows.finish(batch.id, finished, async (tx, counted) => {
        await this.parts.settleCounts(tx, key, { completed: counted.completed, failed: counted.failed });
        await this.mirrorCounts(tx, batch.id);
      });
    let matched = 0;
    let unmatched = 0;
    for (const fileId of [part.outputFileId, part.errorFileId]) {
      if (!fileId) continue;
      const read = await recordResultFile(await api.fileContent(fileId, this.abort.signal), pending, record);
      matched += read.matched;
      unmatched += read.unmatched;
    }
    const status = part.providerStatus ?? 'unknown';
    const halting = batch.status === 'cancelling' || batch.stopReason !== null;
    let state: PartState = 'collected';
    if (status === 'failed') {
      state = 'failed';
      await this.closeWithPending(
        part,
        state,
        REQUEST_ERROR_CODES.batchFailed,
        `The provider failed this part (provider batch ${part.providerBatchId}): ${part.error ?? 'no reason given'}`,
      );
    } else if (halting) {
      // Lines the provider did not run stay pending: the finalizer ends them as batch_cancelled / batch_expired.
      await this.close(part, state, null);
    } else {
      await this.closeWithPending(
        part,
        state,
        REQUEST_ERROR_CODES.missingResult,
        `The provider's batch ${part.providerBatchId} ended ${status} without a result for this request`,
      );
    }
    this.metrics.providerBatchOutcomes.inc({ provider: provider.id, status });
    this.logger.log({ batchId: batch.id, part: part.part, providerBatchId: part.providerBatchId, status, matched, unmatched }, 'Provider batch collected');
    await this.deleteFiles(api, part, [part.providerFileId, part.outputFileId, part.errorFileId]);
  }

  /** The provider refused the part: its lines become error lines with the provider's message. */
  private async refuse(part: ProviderBatchEntity, provider: Provider, message: string): Promise<void> {
    await this.closeWithPending(part, 'failed', REQUEST_ERROR_CODES.batchFailed, message);
    this.metrics.providerBatchSubmissions.inc({ provider: provider.id, outcome: 'refused' });
    this.logger.warn({ batchId: part.batchId, part: part.part, err: message }, 'Provider refused a part; its lines are error lines');
  }

  /** Closes the part and ends its lines still pending with `code`, in one transaction. */
  private async closeWithPending(part: ProviderBatchEntity, state: PartState, code: string, message: string): Promise<void> {
    await this.rows.failPending(part.batchId, code, plainText(message), { first: part.firstLine, last: part.lastLine }, (tx) =>
      this.closeIn(tx, part, state, state === 'failed' ? plainText(message) : part.error),
    );
  }

  private async close(part: ProviderBatchEntity, state: PartState, error: string | null): Promise<void> {
    await this.unitOfWork.run((tx) => this.closeIn(tx, part, state, error));
  }

  private async closeIn(tx: Transaction, part: ProviderBatchEntity, state: PartState, error: string | null): Promise<void> {
    await this.parts.update({ batchId: part.batchId, part: part.part }, { state, error, providerCompleted: 0, providerFailed: 0 }, tx);
    await this.mirrorCounts(tx, part.batchId);
    part.state = state;
  }

  /** The batch's remote counters from what its submitted parts report, in the caller's transaction. */
  private mirrorCounts(tx: Transaction, batchId: string): Promise<void> {
    return this.batches.setRemoteProgress(tx, batchId, () => this.parts.reported(tx, batchId));
  }

  /** After a part closed: a running batch with no open part left has every line recorded, and is finalized. */
  private async afterClosed(batch: BatchRun): Promise<void> {
    if ((await this.parts.countOpen(batch.id)) > 0) return;
    await this.jobs.finalize(batch.id);
  }

  /** Deletes the provider's copies once they are of no more use; a failure leaves them behind, with a warning. */
  private async deleteFiles(api: ProviderBatchApi, part: ProviderBatchEntity, ids: (string | null)[]): Promise<void> {
    for (const id of ids) {
      if (!id) continue;
      await api
        .deleteFile(id, this.abort.signal)
        .catch((err) =>
          this.logger.warn(
            { batchId: part.batchId, part: part.part, fileId: id, err: (err as Error).message },
            'Could not delete a provider file; it stays on the provider',
          ),
        );
    }
  }

  /** The provider's API client, made again when its settings change. */
  private api(provider: Provider): ProviderBatchApi {
    const timeoutMs = provider.timeoutMs ?? this.config.execution.upstreamTimeoutMs;
    const signature = JSON.stringify([provider.baseUrl, provider.apiKeyEnv, timeoutMs]);
    const known = this.apis.get(provider.id);
    if (known?.signature === signature) return known.api;
    void known?.api.close();
    const api = new ProviderBatchApi({
      baseUrl: provider.baseUrl,
      apiKey: provider.apiKeyEnv ? this.config.readSecret(provider.apiKeyEnv) : undefined,
      timeoutMs,
      maxAttempts: this.config.execution.upstreamMaxAttempts,
      retryBaseMs: this.config.execution.upstreamRetryBaseMs,
      maxResponseBytes: this.config.execution.upstreamMaxResponseBytes,
    });
    this.apis.set(provider.id, { signature, api });
    return api;
  }
}

/** What a failed provider batch says of why (its first errors). */
function describeFailure(remote: RemoteBatch): string {
  const errors = remote.errors?.data ?? [];
  if (errors.length === 0) return 'The provider reported the batch as failed without a reason';
  const shown = errors.slice(0, 3).map((e) => `${e.line != null ? `line ${e.line}: ` : ''}${e.message ?? e.code ?? 'error'}`);
  return plainText(shown.join('; ') + (errors.length > 3 ? ` (and ${errors.length - 3} more)` : ''), 1000);
}
