import { Clock } from '@app/core';
import { dialectOf, execute, managerOf, named, queryRows, SqlDialect, Transaction, UnitOfWork } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, In, Repository } from 'typeorm';
import { OPEN_PART_STATES, ProviderBatchEntity } from './provider-batch.entity';

export type PartKey = Pick<ProviderBatchEntity, 'batchId' | 'part'>;
export type PartPatch = Partial<Omit<ProviderBatchEntity, 'batchId' | 'part' | 'leaseOwner' | 'createdAt' | 'updatedAt'>>;

const OPEN = OPEN_PART_STATES.map((s) => `'${s}'`).join(', ');
const CLAIMABLE = `state IN (${OPEN}) AND (lease_owner IS NULL OR lease_owner NOT IN (SELECT owner FROM scheduler_workers WHERE alive_until > :now))`;

/**
 * The parts of batches that run on provider Batch APIs. A worker claims a due part (no owner, or an
 * owner that is no longer alive in scheduler_workers), works on it, and releases it with its next due
 * time; so one worker at a time polls a provider batch, and a dead worker's part returns to the others.
 */
@Injectable()
export class ProviderBatches {
  private readonly dialect: SqlDialect;

  constructor(
    @InjectRepository(ProviderBatchEntity) private readonly parts: Repository<ProviderBatchEntity>,
    private readonly dataSource: DataSource,
    private readonly unitOfWork: UnitOfWork,
    private readonly clock: Clock,
  ) {
    this.dialect = dialectOf(dataSource);
  }

  /** Records a batch's parts, all or none; planning again keeps the parts already recorded. */
  async plan(batchId: string, providerId: string, ranges: { firstLine: number; lastLine: number }[], now: number): Promise<void> {
    const at = this.clock.nowSeconds();
    const rows = ranges.map((r, i) => ({ batchId, part: i + 1, providerId, ...r, state: 'pending' as const, nextAt: now, createdAt: at, updatedAt: at }));
    await this.unitOfWork.run(async (tx) => {
      for (let i = 0; i < rows.length; i += 200) {
        await managerOf(tx)
          .createQueryBuilder()
          .insert()
          .into(ProviderBatchEntity)
          .values(rows.slice(i, i + 200))
          .orIgnore()
          .execute();
      }
    });
  }

  async forBatch(batchId: string): Promise<ProviderBatchEntity[]> {
    return this.parts.find({ where: { batchId }, order: { part: 'ASC' } });
  }

  async forBatches(batchIds: readonly string[]): Promise<ProviderBatchEntity[]> {
    if (batchIds.length === 0) return [];
    return this.parts.find({ where: { batchId: In([...batchIds]) }, order: { batchId: 'ASC', part: 'ASC' } });
  }

  async countOpen(batchId: string): Promise<number> {
    return this.parts.count({ where: { batchId, state: In([...OPEN_PART_STATES]) } });
  }

  /** Claims up to `limit` due parts that nobody alive holds, soonest due first. */
  async claimDue(owner: string, now: number, limit: number, skip: ReadonlySet<string>): Promise<ProviderBatchEntity[]> {
    const candidates = await queryRows<{ batch_id: string; part: number }>(
      this.dataSource.manager,
      ...named(this.dialect, `SELECT batch_id, part FROM provider_batches WHERE next_at <= :now AND ${CLAIMABLE} ORDER BY next_at LIMIT :limit`, {
        now,
        limit: limit + skip.size,
      }),
    );
    const claimed: ProviderBatchEntity[] = [];
    for (const c of candidates) {
      if (claimed.length >= limit) break;
      const key = { batchId: c.batch_id, part: Number(c.part) };
      if (skip.has(partName(key))) continue;
      const won = await execute(
        this.dataSource.manager,
        ...named(this.dialect, `UPDATE provider_batches SET lease_owner = :owner WHERE batch_id = :batchId AND part = :part AND ${CLAIMABLE}`, {
          owner,
          now,
          ...key,
        }),
      );
      if (won !== 1) continue;
      const part = await this.parts.findOneBy(key);
      if (part) claimed.push(part);
    }
    return claimed;
  }

  /** Changes a part this worker holds (or, with a transaction, inside the caller's). */
  async update(key: PartKey, patch: PartPatch, tx?: Transaction): Promise<void> {
    const manager = tx ? managerOf(tx) : this.dataSource.manager;
    await manager.update(ProviderBatchEntity, key, { ...patch, updatedAt: this.clock.nowSeconds() });
  }

  /** Lets go of a part, due again at `nextAt`. */
  async release(key: PartKey, owner: string, nextAt: number, patch: PartPatch = {}): Promise<void> {
    await this.dataSource.manager.update(
      ProviderBatchEntity,
      { ...key, leaseOwner: owner },
      { ...patch, nextAt, leaseOwner: null, updatedAt: this.clock.nowSeconds() },
    );
  }

  /** Graceful shutdown: every part this worker holds is free at once. */
  async releaseAll(owner: string): Promise<void> {
    await this.dataSource.manager.update(ProviderBatchEntity, { leaseOwner: owner }, { leaseOwner: null });
  }

  /** The open parts of halting batches whose cancel is not yet forwarded become due now. */
  async dueForCancel(batchIds: string[], now: number): Promise<void> {
    if (batchIds.length === 0) return;
    await this.parts
      .createQueryBuilder()
      .update(ProviderBatchEntity)
      .set({ nextAt: now })
      .where(`batch_id IN (:...batchIds) AND state IN (${OPEN}) AND cancel_requested_at IS NULL AND next_at > :now`, { batchIds, now })
      .execute();
  }

  /**
   * Takes lines whose results were just recorded off the part's reported counts (so that a batch's
   * request_counts never count a line twice while its part is collected); in the caller's transaction.
   */
  async settleCounts(tx: Transaction, key: PartKey, recorded: { completed: number; failed: number }): Promise<void> {
    if (recorded.completed > 0 || recorded.failed > 0) {
      await execute(
        managerOf(tx),
        ...named(
          this.dialect,
          `UPDATE provider_batches
           SET provider_completed = CASE WHEN provider_completed > :completed THEN provider_completed - :completed ELSE 0 END,
               provider_failed = CASE WHEN provider_failed > :failed THEN provider_failed - :failed ELSE 0 END
           WHERE batch_id = :batchId AND part = :part`,
          { ...recorded, ...key },
        ),
      );
    }
  }

  /** What the batch's submitted parts report finished and not yet recorded. */
  async reported(tx: Transaction, batchId: string): Promise<{ completed: number; failed: number }> {
    const [row] = await queryRows<{ completed: number | string | null; failed: number | string | null }>(
      managerOf(tx),
      ...named(
        this.dialect,
        `SELECT SUM(provider_completed) AS completed, SUM(provider_failed) AS failed FROM provider_batches WHERE batch_id = :batchId AND state = 'submitted'`,
        { batchId },
      ),
    );
    return { completed: Number(row?.completed ?? 0), failed: Number(row?.failed ?? 0) };
  }
}

export function partName(key: PartKey): string {
  return `${key.batchId}#${key.part}`;
}
