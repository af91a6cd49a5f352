import { ApiError, Clock, DEFAULT_BATCH_ENDPOINT, IdGenerator, ListObject, toListPage } from '@app/core';
import { expiresAfterSeconds, FilesService, MAX_KEPT_MODELS } from '@app/files';
import { BatchJobs } from './batch-jobs';
import { RoutingService } from '@app/routing';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, In, IsNull, LessThanOrEqual, Not, Repository } from 'typeorm';
import { BatchStateMachine, EXPIRABLE_STATUSES, LIVE_STATUSES, TERMINAL_STATUSES } from './batch-state-machine';
import { BatchObject, BatchProgress, BatchRun, BatchSearch, BatchView } from './batch.types';
import { CreateBatchDto, SUPPORTED_WINDOWS } from './dto/create-batch.dto';
import { ListBatchesQuery } from './dto/list-batches.query';
import { BatchEntity } from './entities/batch.entity';
import { toBatchObject, toBatchView } from './batch.mapper';

const WINDOW_SECONDS: Record<string, number> = { '24h': 24 * 3600 };

/** The rule for a callback_url at create: the webhooks module registers it (checkWebhookUrl), throwing a 400 ApiError. */
export type CallbackUrlCheck = (raw: string) => void;

@Injectable()
export class BatchesService implements OnModuleInit {
  private callbackUrlRule: CallbackUrlCheck | null = null;
  private byIdOfAccount?: CompiledRead;

  constructor(
    @InjectRepository(BatchEntity) private readonly batches: Repository<BatchEntity>,
    private readonly files: FilesService,
    private readonly routing: RoutingService,
    private readonly states: BatchStateMachine,
    private readonly jobs: BatchJobs,
    private readonly ids: IdGenerator,
    private readonly clock: Clock,
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
    const batch = await this.batches.save(
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
        metadata: dto.metadata ?? null,
        errors: null,
        callbackUrl: dto.callback_url ?? null,
        outputExpiresAfterSeconds,
      }),
    );
    await this.jobs.prepare(batch.id);
    return toBatchObject(batch);
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
    const rows = await qb.orderBy('b.seq', 'DESC').take(limit + 1).getMany();
    return toListPage(rows.map(toBatchObject), limit);
  }

  /** Cancels a batch: dispatch stops at once, and the batch is finalized with what has finished. */
  async cancel(accountId: string | null, id: string): Promise<BatchObject> {
    const batch = accountId ? await this.find(accountId, id) : await this.findAny(id);
    const cancelling = await this.states.apply(batch.id, 'requestCancel');
    if (cancelling) {
      await this.jobs.finalizeStopped(batch.id);
      return toBatchObject(cancelling);
    }
    const current = await this.findAny(id);
    if (current.status === 'cancelling' || current.status === 'cancelled') return toBatchObject(current);
    const state = current.stopReason === 'expired' ? 'expiring' : current.status;
    throw new ApiError('batch_not_cancellable', `Batch '${id}' is ${state} and cannot be cancelled`, 'batch_id');
  }

  // ---- for the execution engine and the admin API ----

  /** Operator search, newest first, keyset-paginated by the internal sequence; also counts all matches. */
  async search(filter: BatchSearch, first: number, afterSeq: number | null): Promise<{ rows: BatchView[]; totalCount: number; hasMore: boolean }> {
    const qb = this.batches.createQueryBuilder('b');
    if (filter.statuses?.length) qb.andWhere('b.status IN (:...statuses)', { statuses: filter.statuses });
    if (filter.accountId) qb.andWhere('b.account_id = :accountId', { accountId: filter.accountId });
    if (filter.model) qb.andWhere('b.model = :model', { model: filter.model });
    if (filter.createdAfter != null) qb.andWhere('b.created_at >= :createdAfter', { createdAfter: filter.createdAfter });
    if (filter.createdBefore != null) qb.andWhere('b.created_at < :createdBefore', { createdBefore: filter.createdBefore });
    if (filter.metadataKey != null) {
      // metadata is stored as JSON text written by JSON.stringify, so a pair appears exactly as encoded here.
      const needle = filter.metadataValue != null
        ? `${JSON.stringify(filter.metadataKey)}:${JSON.stringify(filter.metadataValue)}`
        : `${JSON.stringify(filter.metadataKey)}:`;
      qb.andWhere("b.metadata LIKE :needle ESCAPE '\\'", { needle: `%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%` });
    }
    const totalCount = await qb.getCount();
    if (afterSeq !== null) qb.andWhere('b.seq < :afterSeq', { afterSeq });
    const rows = await qb.orderBy('b.seq', 'DESC').take(first + 1).getMany();
    return { rows: rows.slice(0, first).map(toBatchView), totalCount, hasMore: rows.length > first };
  }

  async findViews(ids: readonly string[]): Promise<BatchView[]> {
    if (ids.length === 0) return [];
    return (await this.batches.findBy({ id: In([...ids]) })).map(toBatchView);
  }

  async countByStatus(): Promise<Record<string, number>> {
    const rows: { status: string; count: string | number }[] = await this.batches
      .createQueryBuilder('b')
      .select('b.status', 'status')
      .addSelect('COUNT(*)', 'count')
      .groupBy('b.status')
      .getRawMany();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
  }

  async getRun(batchId: string): Promise<BatchRun | null> {
    const b = await this.batches.findOneBy({ id: batchId });
    return b && toRun(b);
  }

  /** Adds finished requests to the batch's counters, inside the caller's transaction. */
  async addProgress(manager: EntityManager, batchId: string, p: BatchProgress): Promise<void> {
    await manager
      .createQueryBuilder()
      .update(BatchEntity)
      .set({
        completed: () => `completed + ${Math.trunc(p.completed)}`,
        failed: () => `failed + ${Math.trunc(p.failed)}`,
        promptTokens: () => `prompt_tokens + ${Math.trunc(p.promptTokens)}`,
        completionTokens: () => `completion_tokens + ${Math.trunc(p.completionTokens)}`,
        totalTokens: () => `total_tokens + ${Math.trunc(p.promptTokens + p.completionTokens)}`,
        cachedTokens: () => `cached_tokens + ${Math.trunc(p.cachedTokens)}`,
        reasoningTokens: () => `reasoning_tokens + ${Math.trunc(p.reasoningTokens)}`,
      })
      .where('id = :batchId', { batchId })
      .execute();
  }

  /** What the batch's provider batches report finished and not yet collected, inside the caller's transaction. */
  async setRemoteProgress(manager: EntityManager, batchId: string, remote: { completed: number; failed: number }): Promise<void> {
    await manager.update(BatchEntity, { id: batchId }, { remoteCompleted: remote.completed, remoteFailed: remote.failed });
  }

  /** Realtime batches whose lines may be sent now: in progress, neither cancelled nor expiring. */
  async dispatching(): Promise<BatchRun[]> {
    const rows = await this.batches.find({ where: { status: 'in_progress', stopReason: IsNull(), execution: 'realtime' } });
    return rows.map(toRun);
  }

  /** Provider-batch batches that are stopping (cancelling, or expiring): their provider batches must be cancelled. */
  async stoppingOnProviders(): Promise<BatchRun[]> {
    const rows = await this.batches.find({
      where: [
        { execution: 'provider_batch', status: 'cancelling' },
        { execution: 'provider_batch', status: In([...EXPIRABLE_STATUSES]), stopReason: Not(IsNull()) },
      ],
    });
    return rows.map(toRun);
  }

  /** Batches a worker must pick up again after a restart. */
  async findUnfinished(): Promise<BatchRun[]> {
    const rows = await this.batches.find({ where: { status: In([...LIVE_STATUSES]) } });
    return rows.map(toRun);
  }

  /** Marks running batches past their window as expiring; returns the ids this call marked. */
  async markExpiring(): Promise<string[]> {
    const due = await this.batches.find({
      where: { status: In([...EXPIRABLE_STATUSES]), stopReason: IsNull(), expiresAt: LessThanOrEqual(this.clock.nowSeconds()) },
      select: { id: true },
    });
    const marked: string[] = [];
    for (const { id } of due) {
      const r = await this.batches.update({ id, stopReason: IsNull(), status: In([...EXPIRABLE_STATUSES]) }, { stopReason: 'expired' });
      if (r.affected) marked.push(id);
    }
    return marked;
  }

  /**
   * The one place a tenant reads a batch by id: another account's batch is not found, like a missing one.
   * One prepared statement (built once from the entity's metadata, hydrated column by column as TypeORM
   * would) instead of the query builder: this is what every SDK's polling loop calls.
   */
  private async find(accountId: string, id: string, param: string | null = null): Promise<BatchEntity> {
    const read = (this.byIdOfAccount ??= compileBatchRead(this.batches));
    const rows: Record<string, unknown>[] = await this.batches.manager.query(read.sql, [id, accountId]);
    if (rows.length === 0) throw ApiError.notFound('batch', id, param);
    return read.hydrate(rows[0]);
  }

  private async findAny(id: string): Promise<BatchEntity> {
    const batch = await this.batches.findOneBy({ id });
    if (!batch) throw ApiError.notFound('batch', id);
    return batch;
  }
}

interface CompiledRead {
  sql: string;
  hydrate(row: Record<string, unknown>): BatchEntity;
}

/** `SELECT <every column> FROM batches WHERE id = ? AND account_id = ?` in the driver's dialect, and its row mapping. */
function compileBatchRead(repository: Repository<BatchEntity>): CompiledRead {
  const { driver } = repository.manager.connection;
  const { columns, schema, tableName } = repository.metadata;
  const table = schema ? `${driver.escape(schema)}.${driver.escape(tableName)}` : driver.escape(tableName);
  const select = columns.map((c) => `${driver.escape(c.databaseName)} AS ${driver.escape(c.propertyName)}`).join(', ');
  const column = (property: keyof BatchEntity) => driver.escape(repository.metadata.findColumnWithPropertyName(property)!.databaseName);
  const where = `${column('id')} = ${driver.createParameter('id', 0)} AND ${column('accountId')} = ${driver.createParameter('accountId', 1)}`;
  return {
    sql: `SELECT ${select} FROM ${table} WHERE ${where}`,
    hydrate(row) {
      const batch: Record<string, unknown> = {};
      // The driver's own conversions: simple-json parsed, bigint through its transformer, and so on.
      for (const c of columns) batch[c.propertyName] = driver.prepareHydratedValue(row[c.propertyName], c);
      return batch as unknown as BatchEntity;
    },
  };
}

function toRun(b: BatchEntity): BatchRun {
  return {
    id: b.id,
    accountId: b.accountId,
    inputFileId: b.inputFileId,
    status: b.status,
    stopReason: b.stopReason,
    providerId: b.providerId,
    upstreamModel: b.upstreamModel,
    endpoint: b.endpoint,
    execution: b.execution,
    total: b.total,
    finished: b.completed + b.failed,
    expiresAt: b.expiresAt,
    cancellingAt: b.cancellingAt,
    outputExpiresAfterSeconds: b.outputExpiresAfterSeconds,
  };
}
