import { BatchesService, BatchProgress } from '@app/batches';
import { Clock } from '@app/core';
import type { LineIndexEntry } from '@app/files';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import { BatchRequestEntity } from './entities/batch-request.entity';
import type { UpstreamOutcome } from './upstream/upstream-client';

const INSERT_PAGE = 500;

export interface PendingRow {
  line: number;
  customId: string;
  byteOffset: number;
  byteLength: number;
}

export interface FinishedRow {
  line: number;
  outcome: UpstreamOutcome;
}

/** The request rows of batches: created from the line index, finished once, read back in line order. */
@Injectable()
export class RequestRowsService {
  constructor(
    @InjectRepository(BatchRequestEntity) private readonly rows: Repository<BatchRequestEntity>,
    private readonly dataSource: DataSource,
    private readonly batches: BatchesService,
    private readonly clock: Clock,
  ) {}

  /** Creates one pending row per index entry; safe to run again (existing rows are kept). */
  async createRows(batchId: string, entries: AsyncIterable<LineIndexEntry>): Promise<number> {
    let page: Partial<BatchRequestEntity>[] = [];
    let line = 0;
    const flush = async () => {
      if (page.length === 0) return;
      await this.rows.createQueryBuilder().insert().values(page).orIgnore().execute();
      page = [];
    };
    for await (const [byteOffset, byteLength, customId] of entries) {
      line += 1;
      page.push({ batchId, line, customId, byteOffset, byteLength, status: 'pending', attempts: 0, promptTokens: 0, completionTokens: 0 });
      if (page.length >= INSERT_PAGE) await flush();
    }
    await flush();
    return line;
  }

  async pendingInRange(batchId: string, firstLine: number, lastLine: number): Promise<PendingRow[]> {
    return this.rows
      .createQueryBuilder('r')
      .select(['r.line', 'r.customId', 'r.byteOffset', 'r.byteLength'])
      .where('r.batch_id = :batchId AND r.status = :status AND r.line BETWEEN :firstLine AND :lastLine', {
        batchId,
        status: 'pending',
        firstLine,
        lastLine,
      })
      .orderBy('r.line', 'ASC')
      .getMany();
  }

  async countPending(batchId: string): Promise<number> {
    return this.rows.countBy({ batchId, status: 'pending' });
  }

  /**
   * Finishes rows and adds them to the batch counters in one transaction. A row already finished
   * (by a retry, or by cancel/expiry) is left alone and not counted again.
   */
  async finish(batchId: string, finished: FinishedRow[]): Promise<void> {
    if (finished.length === 0) return;
    const now = this.clock.nowSeconds();
    await this.dataSource.transaction(async (manager) => {
      const progress: BatchProgress = { completed: 0, failed: 0, promptTokens: 0, completionTokens: 0 };
      for (const { line, outcome } of finished) {
        const result = await manager
          .createQueryBuilder()
          .update(BatchRequestEntity)
          .set({
            status: outcome.ok ? 'completed' : 'failed',
            attempts: outcome.attempts,
            statusCode: outcome.statusCode,
            latencyMs: outcome.latencyMs,
            upstreamRequestId: outcome.requestId,
            responseBody: outcome.body,
            errorCode: outcome.error?.code ?? null,
            errorMessage: outcome.error?.message ?? null,
            promptTokens: outcome.promptTokens,
            completionTokens: outcome.completionTokens,
            finishedAt: now,
          })
          .where('batch_id = :batchId AND line = :line AND status = :pending', { batchId, line, pending: 'pending' })
          .execute();
        if (!result.affected) continue;
        if (outcome.ok) progress.completed += 1;
        else progress.failed += 1;
        progress.promptTokens += outcome.promptTokens;
        progress.completionTokens += outcome.completionTokens;
      }
      if (progress.completed + progress.failed > 0) await this.batches.addProgress(manager, batchId, progress);
    });
  }

  /** Ends every row still pending with `code` (cancel, expiry), counted as failed. Returns how many. */
  async failPending(batchId: string, code: string, message: string): Promise<number> {
    return this.dataSource.transaction(async (manager) => {
      const result = await manager
        .createQueryBuilder()
        .update(BatchRequestEntity)
        .set({ status: 'failed', errorCode: code, errorMessage: message, finishedAt: this.clock.nowSeconds() })
        .where('batch_id = :batchId AND status = :pending', { batchId, pending: 'pending' })
        .execute();
      const failed = result.affected ?? 0;
      if (failed > 0) await this.batches.addProgress(manager, batchId, { completed: 0, failed, promptTokens: 0, completionTokens: 0 });
      return failed;
    });
  }

  /** All rows of a batch in line order, a page at a time (keyset pagination, nothing held whole). */
  async *inLineOrder(batchId: string, pageSize = 1000): AsyncGenerator<BatchRequestEntity> {
    let after = 0;
    for (;;) {
      const page = await this.rows
        .createQueryBuilder('r')
        .where('r.batch_id = :batchId AND r.line > :after', { batchId, after })
        .orderBy('r.line', 'ASC')
        .take(pageSize)
        .getMany();
      yield* page;
      if (page.length < pageSize) return;
      after = page[page.length - 1].line;
    }
  }

  /** Requests finished since `since` (unix seconds), per provider: how many, and how many failed. */
  async recentByProvider(since: number): Promise<{ providerId: string; finished: number; failed: number }[]> {
    const rows: { providerId: string; finished: string | number; failed: string | number }[] = await this.rows
      .createQueryBuilder('r')
      .innerJoin('batches', 'b', 'b.id = r.batch_id')
      .select('b.provider_id', 'providerId')
      .addSelect('COUNT(*)', 'finished')
      .addSelect("SUM(CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END)", 'failed')
      .where('r.finished_at >= :since', { since })
      .groupBy('b.provider_id')
      .getRawMany();
    return rows.map((r) => ({ providerId: r.providerId, finished: Number(r.finished), failed: Number(r.failed) }));
  }

  async page(batchId: string, afterLine: number, limit: number, status?: string): Promise<BatchRequestEntity[]> {
    const qb = this.rows.createQueryBuilder('r').where('r.batch_id = :batchId AND r.line > :afterLine', { batchId, afterLine });
    if (status) qb.andWhere('r.status = :status', { status });
    return qb.orderBy('r.line', 'ASC').take(limit).getMany();
  }
}
