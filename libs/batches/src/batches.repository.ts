import { Clock } from '@app/core';
import { managerOf, Transaction } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, IsNull, LessThanOrEqual, Not, Repository } from 'typeorm';
import { EXPIRABLE_STATUSES, LIVE_STATUSES } from './batch-transitions';
import { toBatchView } from './batch.mapper';
import { BatchProgress, BatchRun, BatchSearch, BatchView } from './batch.types';
import { BatchEntity, BatchStatus } from './entities/batch.entity';

/**
 * The batches table's queries: the tenant's read by id, the execution engine's (running, halting,
 * unfinished and expiring batches, counters added in the caller's transaction) and the admin API's
 * (search, counts by status). BatchesService keeps the tenant API; status changes are the state
 * machine's.
 */
@Injectable()
export class BatchesRepository {
  private byIdOfAccount?: CompiledRead;

  constructor(
    @InjectRepository(BatchEntity) private readonly batches: Repository<BatchEntity>,
    private readonly clock: Clock,
  ) {}

  /**
   * The one place a tenant's batch is read by id (null for another account's, like a missing one). One
   * prepared statement (built once from the entity's metadata, hydrated column by column as TypeORM
   * would) instead of the query builder: this is what every SDK's polling loop calls.
   */
  async findOfAccount(accountId: string, id: string): Promise<BatchEntity | null> {
    const read = (this.byIdOfAccount ??= compileBatchRead(this.batches));
    const rows: Record<string, unknown>[] = await this.batches.manager.query(read.sql, [id, accountId]);
    return rows.length === 0 ? null : read.hydrate(rows[0]);
  }

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
      const needle =
        filter.metadataValue != null
          ? `${JSON.stringify(filter.metadataKey)}:${JSON.stringify(filter.metadataValue)}`
          : `${JSON.stringify(filter.metadataKey)}:`;
      qb.andWhere("b.metadata LIKE :needle ESCAPE '\\'", { needle: `%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%` });
    }
    const totalCount = await qb.getCount();
    if (afterSeq !== null) qb.andWhere('b.seq < :afterSeq', { afterSeq });
    const rows = await qb
      .orderBy('b.seq', 'DESC')
      .take(first + 1)
      .getMany();
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

  /** Inserts a new batch inside the caller's transaction. */
  async insertIn(tx: Transaction, batch: BatchEntity): Promise<BatchEntity> {
    await managerOf(tx).getRepository(BatchEntity).insert(batch);
    // Read back: insert leaves the nullable columns it did not set undefined, and the batch object names them all (null).
    return managerOf(tx).findOneByOrFail(BatchEntity, { id: batch.id });
  }

  /**
   * What an account's unfinished batches hold, in the caller's transaction: how many there are, and the
   * input tokens (their estimates at create) of those of `model`.
   */
  async unfinishedUse(tx: Transaction, accountId: string, model: string): Promise<{ batches: number; tokens: number }> {
    const row: { batches: string | number; tokens: string | number | null } | undefined = await managerOf(tx)
      .getRepository(BatchEntity)
      .createQueryBuilder('b')
      .select('COUNT(*)', 'batches')
      .addSelect('SUM(CASE WHEN b.model = :model THEN COALESCE(b.input_tokens_estimate, 0) ELSE 0 END)', 'tokens')
      .where('b.account_id = :accountId', { accountId, model })
      .andWhere('b.status IN (:...live)', { live: [...LIVE_STATUSES] })
      .getRawOne();
    return { batches: Number(row?.batches ?? 0), tokens: Number(row?.tokens ?? 0) };
  }

  /**
   * What the account's unfinished batches may still cost, by their estimates: for each, its input-token
   * estimate at its locked input price, less what it has cost so far (already in the month's spend).
   */
  async reservedCostMicros(tx: Transaction, accountId: string): Promise<number> {
    const row: { reserved: string | number | null } | undefined = await managerOf(tx)
      .getRepository(BatchEntity)
      .createQueryBuilder('b')
      .select(
        'SUM(CASE WHEN b.input_tokens_estimate * b.input_price_per_mtok > b.cost_micros THEN b.input_tokens_estimate * b.input_price_per_mtok - b.cost_micros ELSE 0 END)',
        'reserved',
      )
      .where('b.account_id = :accountId', { accountId })
      .andWhere('b.status IN (:...live)', { live: [...LIVE_STATUSES] })
      .andWhere('b.input_tokens_estimate IS NOT NULL AND b.input_price_per_mtok IS NOT NULL')
      .getRawOne();
    return Math.ceil(Number(row?.reserved ?? 0));
  }

  /** Per model, the input tokens an account's unfinished batches hold, and how many there are. */
  async enqueuedByModel(accountId: string): Promise<{ model: string; tokens: number; batches: number }[]> {
    const rows: { model: string; tokens: string | number | null; batches: string | number }[] = await this.batches
      .createQueryBuilder('b')
      .select('b.model', 'model')
      .addSelect('SUM(COALESCE(b.input_tokens_estimate, 0))', 'tokens')
      .addSelect('COUNT(*)', 'batches')
      .where('b.account_id = :accountId', { accountId })
      .andWhere('b.status IN (:...live)', { live: [...LIVE_STATUSES] })
      .groupBy('b.model')
      .orderBy('b.model', 'ASC')
      .getRawMany();
    return rows.map((r) => ({ model: r.model, tokens: Number(r.tokens ?? 0), batches: Number(r.batches) }));
  }

  /** Adds finished requests to the batch's counters, inside the caller's transaction. */
  async addProgress(tx: Transaction, batchId: string, p: BatchProgress): Promise<void> {
    await managerOf(tx)
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
        costMicros: () => `cost_micros + ${Math.trunc(p.costMicros)}`,
      })
      .where('id = :batchId', { batchId })
      .execute();
  }

  /**
   * Sets what the batch's provider batches report finished and not yet collected, inside the caller's
   * transaction, with `reported` read under the batch row's lock: transactions that change several parts
   * of one batch at once then each read the others' committed changes, and the last one writes the sum
   * of all (read before the lock, two of them could each miss the other's part). SQLite has one writer.
   */
  async setRemoteProgress(tx: Transaction, batchId: string, reported: () => Promise<{ completed: number; failed: number }>): Promise<void> {
    const manager = managerOf(tx);
    if (manager.connection.options.type === 'postgres') await manager.query('SELECT 1 FROM batches WHERE id = $1 FOR UPDATE', [batchId]);
    const remote = await reported();
    await manager.update(BatchEntity, { id: batchId }, { remoteCompleted: remote.completed, remoteFailed: remote.failed });
  }

  /**
   * The state machine's guarded UPDATE: sets `patch` only while the batch is in one of `from` (and, with
   * `onlyRunning`, not already cancelling or expiring). Returns whether it changed the row.
   */
  async changeStatus(
    tx: Transaction,
    batchId: string,
    guard: { from: readonly BatchStatus[]; onlyRunning?: boolean },
    patch: Partial<BatchEntity>,
  ): Promise<boolean> {
    const update = managerOf(tx)
      .createQueryBuilder()
      .update(BatchEntity)
      .set(patch)
      .where('id = :batchId', { batchId })
      .andWhere('status IN (:...from)', { from: [...guard.from] });
    if (guard.onlyRunning) update.andWhere('stop_reason IS NULL');
    return ((await update.execute()).affected ?? 0) > 0;
  }

  /** The batch as the transaction sees it. */
  getIn(tx: Transaction, batchId: string): Promise<BatchEntity> {
    return managerOf(tx).findOneByOrFail(BatchEntity, { id: batchId });
  }

  /** Realtime batches whose lines may be sent now: in progress, neither cancelled nor expiring. */
  async dispatching(): Promise<BatchRun[]> {
    const rows = await this.batches.find({ where: { status: 'in_progress', stopReason: IsNull(), execution: 'realtime' } });
    return rows.map(toRun);
  }

  /** Provider-batch batches that are halting (cancelling, or expiring): their provider batches must be cancelled. */
  async haltingOnProviders(): Promise<BatchRun[]> {
    const rows = await this.batches.find({
      where: [
        { execution: 'provider_batch', status: 'cancelling' },
        { execution: 'provider_batch', status: In([...EXPIRABLE_STATUSES]), stopReason: Not(IsNull()) },
      ],
    });
    return rows.map(toRun);
  }

  /** Ids of the account's batches not yet stopped that may still run lines (validating or in progress, no stop reason). */
  async runningOfAccount(accountId: string): Promise<string[]> {
    const rows = await this.batches.find({
      where: { accountId, status: In([...EXPIRABLE_STATUSES]), stopReason: IsNull() },
      select: { id: true },
    });
    return rows.map((r) => r.id);
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
    model: b.model,
    providerId: b.providerId,
    upstreamModel: b.upstreamModel,
    endpoint: b.endpoint,
    execution: b.execution,
    total: b.total,
    finished: b.completed + b.failed,
    expiresAt: b.expiresAt,
    cancellingAt: b.cancellingAt,
    inputPricePerMtok: b.inputPricePerMtok,
    outputPricePerMtok: b.outputPricePerMtok,
    costCurrency: b.costCurrency,
    outputExpiresAfterSeconds: b.outputExpiresAfterSeconds,
  };
}
