import { Injectable } from '@nestjs/common';
import { BatchesRepository } from './batches.repository';
import { BatchSearch, BatchView } from './batch.types';

/** What operators read of batches across accounts: the admin API's search and the metrics' counts. */
@Injectable()
export class BatchReports {
  constructor(private readonly batches: BatchesRepository) {}

  /** Newest first, keyset-paginated by the internal sequence; also counts all matches. */
  search(filter: BatchSearch, first: number, afterSeq: number | null): Promise<{ rows: BatchView[]; totalCount: number; hasMore: boolean }> {
    return this.batches.search(filter, first, afterSeq);
  }

  findViews(ids: readonly string[]): Promise<BatchView[]> {
    return this.batches.findViews(ids);
  }

  /** Per model, the input tokens an account's unfinished batches hold (their estimates at create), and how many there are. */
  enqueuedByModel(accountId: string): Promise<{ model: string; tokens: number; batches: number }[]> {
    return this.batches.enqueuedByModel(accountId);
  }

  countByStatus(): Promise<Record<string, number>> {
    return this.batches.countByStatus();
  }
}
