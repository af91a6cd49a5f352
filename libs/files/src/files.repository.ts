import { managerOf, Transaction } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { FileEntity } from './entities/file.entity';

/** A file past its expiry, as the sweeper needs it. */
export type ExpiredFile = Pick<FileEntity, 'seq' | 'id' | 'purpose' | 'bytes' | 'expiresAt'> & { expiresAt: number };

/** The queries over `files` that are more than a lookup by id. */
@Injectable()
export class FilesRepository {
  constructor(@InjectRepository(FileEntity) private readonly files: Repository<FileEntity>) {}

  /**
   * One page of an account's files that have not expired at `now`, in upload order (`desc`: newest first),
   * after the file with sequence `afterSeq`; `limit + 1` rows, so the caller knows whether there are more.
   */
  listPage(accountId: string, page: { purpose?: string; afterSeq?: number; order: 'asc' | 'desc'; limit: number; now: number }): Promise<FileEntity[]> {
    const qb = this.files
      .createQueryBuilder('f')
      .where('f.account_id = :accountId', { accountId })
      .andWhere('(f.expires_at IS NULL OR f.expires_at > :now)', { now: page.now });
    if (page.purpose) qb.andWhere('f.purpose = :purpose', { purpose: page.purpose });
    if (page.afterSeq !== undefined) qb.andWhere(page.order === 'desc' ? 'f.seq < :seq' : 'f.seq > :seq', { seq: page.afterSeq });
    return qb
      .orderBy('f.seq', page.order === 'desc' ? 'DESC' : 'ASC')
      .limit(page.limit + 1)
      .getMany();
  }

  /**
   * Files that expired at or before `cutoff`, soonest expiry first, after `after` (a keyset cursor over
   * the expiry index, so files kept because they are in use never hide the ones behind them).
   */
  async expired(cutoff: number, after: Pick<ExpiredFile, 'expiresAt' | 'seq'> | null, limit: number): Promise<ExpiredFile[]> {
    const qb = this.files.createQueryBuilder('f').select(['f.seq', 'f.id', 'f.purpose', 'f.bytes', 'f.expiresAt']).where('f.expires_at <= :cutoff', { cutoff });
    if (after) {
      qb.andWhere('(f.expires_at > :afterExpiry OR (f.expires_at = :afterExpiry AND f.seq > :afterSeq))', {
        afterExpiry: after.expiresAt,
        afterSeq: after.seq,
      });
    }
    const rows = await qb.orderBy('f.expires_at', 'ASC').addOrderBy('f.seq', 'ASC').limit(limit).getMany();
    return rows as ExpiredFile[];
  }

  /** Deletes the row of an expired file; false when it was already gone (another worker swept it) or no longer expired. */
  async deleteExpired(seq: number, cutoff: number): Promise<boolean> {
    const result = await this.files.createQueryBuilder().delete().from(FileEntity).where('seq = :seq AND expires_at <= :cutoff', { seq, cutoff }).execute();
    return (result.affected ?? 0) > 0;
  }

  /** Ids of batch files whose token count has been pending since before `createdBefore` (its process stopped before it ended). */
  async stalledCounts(createdBefore: number, limit: number): Promise<string[]> {
    const rows = await this.files
      .createQueryBuilder('f')
      .select(['f.seq', 'f.id'])
      .where("f.token_count_state = 'pending'")
      .andWhere('f.created_at < :createdBefore', { createdBefore })
      .orderBy('f.seq', 'ASC')
      .limit(limit)
      .getMany();
    return rows.map((r) => r.id);
  }

  /** Records a file's counted input tokens. */
  async recordTokenEstimate(fileId: string, tokens: number): Promise<void> {
    await this.files.update({ id: fileId }, { inputTokensEstimate: tokens, tokenCountState: 'counted' });
  }

  /** Writes a file's row inside the caller's transaction, replacing any row of that id. */
  async replaceIn(tx: Transaction, file: Omit<FileEntity, 'seq'>): Promise<void> {
    const files = managerOf(tx).getRepository(FileEntity);
    await files.delete({ id: file.id });
    await files.insert(file);
  }
}
