import { ApiError, Clock, DEFAULT_BATCH_ENDPOINT, IdGenerator, ListObject, toListPage } from '@app/core';
import { AccountQuotasService, tokenLimitFor } from '@app/accounts';
import { expiresAfterSeconds, FilesService, MAX_KEPT_MODELS } from '@app/files';
import { UnitOfWork } from '@app/persistence';
import { BatchJobs } from './batch-jobs';
import { RouteLock, RoutingService } from '@app/routing';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Not, Repository } from 'typeorm';
import { BatchStateMachine } from './batch-state-machine';
import { TERMINAL_STATUSES } from './batch-transitions';
import { BatchObject } from './batch.types';
import { CreateBatchDto, SUPPORTED_WINDOWS } from './dto/create-batch.dto';
import { ListBatchesQuery } from './dto/list-batches.query';
import { BatchEntity } from './entities/batch.entity';
import { toBatchObject } from './batch.mapper';
import { BatchesRepository } from './batches.repository';
import { SpendLimits } from './spend-limits.service';

const WINDOW_SECONDS: Record<string, number> = { '24h': 24 * 3600 };

/** 1200000 → "1,200,000". */
function grouped(n: number): string {
  return n.toLocaleString('en-US');
}

/** The rule for a callback_url at create: the webhooks module registers it (checkWebhookUrl), throwing a 400 ApiError. */
export type CallbackUrlCheck = (raw: string) => void;

/** The tenant API of batches: create, read, list, cancel. The queries of the execution engine and the admin API are BatchesRepository's. */
@Injectable()
export class BatchesService implements OnModuleInit {
  private callbackUrlRule: CallbackUrlCheck | null = null;

  constructor(
    @InjectRepository(BatchEntity) private readonly batches: Repository<BatchEntity>,
    private readonly files: FilesService,
    private readonly routing: RoutingService,
    private readonly states: BatchStateMachine,
    private readonly jobs: BatchJobs,
    private readonly ids: IdGenerator,
    private readonly clock: Clock,
    private readonly repository: BatchesRepository,
    private readonly quotas: AccountQuotasService,
    private readonly unitOfWork: UnitOfWork,
    private readonly spendLimits: SpendLimits,
  ) {}

  onModuleInit(): void {
    this.files.registerInUseCheck(async (fileId) => {
      const user = await this.batches.findOne({
        where: { inputFileId: fileId, status: Not(In([...TERMINAL_STATUSES])) },
        select: { id: true },
      });
      return user ? `batch '${user.id}'` : null;
    });
  }

  /** The webhooks module's rule for a webhook URL (the one rule for callback_url and accounts' webhooks). */
  registerCallbackUrlCheck(check: CallbackUrlCheck): void {
    this.callbackUrlRule = check;
  }

  async create(accountId: string, dto: CreateBatchDto): Promise<BatchObject> {
    const outputExpiresAfterSeconds = expiresAfterSeconds(dto.output_expires_after, 'output_expires_after');
    if (dto.callback_url != null) {
      // Fail closed: a gateway wired without the webhooks module must not take callback URLs unchecked.
      if (!this.callbackUrlRule) throw new Error('No callback_url rule is registered (WebhooksModule)');
      this.callbackUrlRule(dto.callback_url);
    }
    const file = await this.files.getBatchInput(accountId, dto.input_file_id);
    if (file.errors.length > 0) {
      const first = file.errors[0];
      const more = file.errors.length > 1 ? ` (and ${file.errors.length - 1} more problems)` : '';
      throw new ApiError('batch_invalid_jsonl', `Invalid request file: ${first.message}${more}`, 'input_file_id');
    }
    const endpoint = dto.endpoint ?? DEFAULT_BATCH_ENDPOINT;
    const other = file.endpoints.find((e) => e.url !== endpoint);
    if (other) {
      throw new ApiError(
        'batch_invalid_jsonl',
        `Invalid request file: Line ${other.line}: url '${other.url}' does not match the batch's endpoint '${endpoint}'; every line must name it`,
        'input_file_id',
      );
    }
    if (file.models.length > 1) {
      throw new ApiError(
        'batch_multiple_models',
        `A batch must use one model; the file uses ${file.models.length >= MAX_KEPT_MODELS ? 'at least ' : ''}${file.models.length}: ${file.models.join(', ')}`,
        'input_file_id',
      );
    }
    const route = await this.routing.chooseRoute(file.models[0], endpoint);
    const now = this.clock.nowSeconds();
    const window = dto.completion_window ?? SUPPORTED_WINDOWS[0];
    const batch = await this.insertWithinLimits(
      file,
      route,
      this.batches.create({
        id: this.ids.next('batch'),
        accountId,
        inputFileId: file.id,
        endpoint,
        completionWindow: window,
        status: 'validating',
        stopReason: null,
        model: file.models[0],
        ...route,
        outputFileId: null,
        errorFileId: null,
        createdAt: now,
        expiresAt: now + WINDOW_SECONDS[window],
        total: file.lineCount,
        completed: 0,
        failed: 0,
        promptTokens: 0,
        completionTokens: 0,
        totalTokens: 0,
        cachedTokens: 0,
        reasoningTokens: 0,
        costMicros: 0,
        metadata: dto.metadata ?? null,
        errors: null,
        callbackUrl: dto.callback_url ?? null,
        outputExpiresAfterSeconds,
      }),
    );
    await this.jobs.prepare(batch.id);
    return toBatchObject(batch);
  }

  /**
   * Inserts a new batch unless it would pass its account's quotas: the most unfinished batches
   * (`batch_limit_exceeded`), the most input tokens enqueued for its model (`token_limit_exceeded`, the
   * file's estimate added to the estimates of the unfinished batches), and the monthly spend limit
   * (`spend_limit_exceeded`, see SpendLimits.checkCreate). The use is counted and the batch inserted in one
   * unit of work holding the account's row lock, so concurrent creates in any number of API processes
   * cannot pass a limit together; a refused create writes nothing. A create waits for its file's token
   * count (outside the unit of work) only when a token limit or a spend limit applies.
   */
  private async insertWithinLimits(file: { id: string; inputTokensEstimate: number | null }, route: RouteLock, batch: BatchEntity): Promise<BatchEntity> {
    const needsEstimate = async () =>
      tokenLimitFor(await this.quotas.get(batch.accountId), batch.model) !== null || (await this.spendLimits.needsEstimate(batch.accountId, route));
    let estimate = file.inputTokensEstimate;
    if (estimate === null && (await needsEstimate())) estimate = await this.files.tokenEstimate(file.id);
    for (;;) {
      const known = estimate;
      const inserted = await this.unitOfWork.run(async (tx) => {
        const quotas = await this.quotas.lock(tx, batch.accountId);
        const tokenLimit = tokenLimitFor(quotas, batch.model);
        // A limit was set after the read above: wait for the count outside the transaction, then again.
        if (known === null && (tokenLimit !== null || (await this.spendLimits.needsEstimate(batch.accountId, route)))) return null;
        await this.spendLimits.checkCreate(tx, batch.accountId, known, route);
        if (quotas.maxUnfinishedBatches !== null || tokenLimit !== null) {
          const use = await this.repository.unfinishedUse(tx, batch.accountId, batch.model);
          if (quotas.maxUnfinishedBatches !== null && use.batches >= quotas.maxUnfinishedBatches) {
            throw new ApiError(
              'batch_limit_exceeded',
              `Unfinished batch limit reached: ${use.batches} of ${quotas.maxUnfinishedBatches} batches are validating, in progress, finalizing or cancelling. Wait for one to finish, or cancel one.`,
              null,
            );
          }
          if (tokenLimit !== null && known !== null && use.tokens + known > tokenLimit) {
            throw new ApiError(
              'token_limit_exceeded',
              `Enqueued token limit reached for ${batch.model}: ${grouped(use.tokens + known)} of ${grouped(tokenLimit)} input tokens ` +
                `(${grouped(use.tokens)} enqueued in unfinished batches, ${grouped(known)} in this file). Wait for batches to finish before creating more.`,
              'input_file_id',
            );
          }
        }
        batch.inputTokensEstimate = known;
        return this.repository.insertIn(tx, batch);
      });
      if (inserted) return inserted;
      estimate = await this.files.tokenEstimate(file.id);
    }
  }

  async get(accountId: string, id: string): Promise<BatchObject> {
    return toBatchObject(await this.find(accountId, id));
  }

  async list(accountId: string, query: ListBatchesQuery): Promise<ListObject<BatchObject>> {
    const limit = query.limit ?? 20;
    const qb = this.batches.createQueryBuilder('b').where('b.account_id = :accountId', { accountId });
    if (query.after) {
      const cursor = await this.find(accountId, query.after, 'after');
      qb.andWhere('b.seq < :seq', { seq: cursor.seq });
    }
    const rows = await qb
      .orderBy('b.seq', 'DESC')
      .take(limit + 1)
      .getMany();
    return toListPage(rows.map(toBatchObject), limit);
  }

  /** Cancels a batch: dispatch stops at once, and the batch is finalized with what has finished. */
  async cancel(accountId: string | null, id: string): Promise<BatchObject> {
    const batch = accountId ? await this.find(accountId, id) : await this.findAny(id);
    const cancelling = await this.states.apply(batch.id, 'requestCancel');
    if (cancelling) {
      await this.jobs.finalizeHalted(batch.id);
      return toBatchObject(cancelling);
    }
    const current = await this.findAny(id);
    if (current.status === 'cancelling' || current.status === 'cancelled') return toBatchObject(current);
    const state = current.stopReason === 'expired' ? 'expiring' : current.status;
    throw new ApiError('batch_not_cancellable', `Batch '${id}' is ${state} and cannot be cancelled`, 'batch_id');
  }

  /** Another account's batch is not found, like a missing one. */
  private async find(accountId: string, id: string, param: string | null = null): Promise<BatchEntity> {
    const batch = await this.repository.findOfAccount(accountId, id);
    if (!batch) throw ApiError.notFound('batch', id, param);
    return batch;
  }

  private async findAny(id: string): Promise<BatchEntity> {
    const batch = await this.batches.findOneBy({ id });
    if (!batch) throw ApiError.notFound('batch', id);
    return batch;
  }
}
