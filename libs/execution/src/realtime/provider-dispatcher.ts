import type { Provider } from '@app/routing';
import { REQUEST_ERROR_CODES } from '../upstream/upstream-client';
import type { Semaphore } from '../upstream/semaphore';
import type { TokenBucket } from '../upstream/token-bucket';
import { noAnswer } from '../upstream/outcome';
import { ProviderPool } from '../upstream/provider-pool';
import { upstreamRequest } from '../upstream-request';
import { BatchLines, ReadyLine } from './batch-lines';
import { FairShare } from './fair-share';

/** Lines claimed per lease: about one round of the provider's slots here, within these bounds. */
const MIN_LEASE_LINES = 50;
const MAX_LEASE_LINES = 1000;

/**
 * Sends the lines of every running batch on one provider from this process. Capacity is the
 * provider's: its concurrency slots here (max_concurrency shared out between the live worker processes)
 * and its rate limit. Whenever a slot is free (and nobody's retry waits for it), the next line is taken
 * from the batch that fair share picks: accounts by weight first, then an account's batches equally.
 * So a small batch starts at once beside a large one, a batch alone may use the whole provider, and
 * nothing here waits on another provider.
 */
export class ProviderDispatcher {
  private readonly fair = new FairShare<BatchLines>();
  private limit: Semaphore | null = null;
  private rate: TokenBucket | null = null;
  private rateTimer: NodeJS.Timeout | null = null;
  private pumping = false;

  constructor(
    private provider: Provider,
    private readonly upstream: ProviderPool,
  ) {}

  get inFlight(): number {
    return this.limit?.inUse ?? 0;
  }

  get leaseLines(): number {
    const slots = this.limit ? this.limit.inUse + this.limit.available : MIN_LEASE_LINES;
    return Math.min(MAX_LEASE_LINES, Math.max(MIN_LEASE_LINES, slots));
  }

  /** The provider's latest settings and this process's capacity for it (refreshed by the scheduler's tick). */
  update(provider: Provider, capacity: { limit: Semaphore; rate: TokenBucket | null }): void {
    this.provider = provider;
    this.rate = capacity.rate;
    if (this.limit !== capacity.limit) {
      this.limit = capacity.limit;
      this.limit.onFree(() => this.pump());
    }
  }

  add(lines: BatchLines, weight: number): void {
    this.fair.add(lines.batch.id, lines.batch.accountId, weight, lines);
  }

  setWeight(accountId: string, weight: number): void {
    this.fair.setWeight(accountId, weight);
  }

  remove(lines: BatchLines): void {
    this.fair.remove(lines.batch.id, lines.batch.accountId);
  }

  /** Starts lines while there are free slots (and rate tokens) and ready lines. */
  pump(): void {
    if (this.pumping || !this.limit) return;
    this.pumping = true;
    try {
      while (this.limit.available > 0) {
        const lines = this.fair.next((l) => l.ready);
        if (!lines) break;
        if (this.rate) {
          const token = this.rate.tryTake();
          if (!token.taken) {
            this.rateTimer ??= setTimeout(() => {
              this.rateTimer = null;
              this.pump();
            }, token.waitMs);
            break;
          }
        }
        const slot = this.limit.tryAcquire()!;
        void this.send(lines, lines.take(), slot);
      }
      // Keep about a lease of lines ready in every batch here, so that freed slots find lines waiting.
      const leaseLines = this.leaseLines;
      for (const lines of this.fair.items()) lines.refill(leaseLines);
    } finally {
      this.pumping = false;
    }
  }

  private async send(lines: BatchLines, line: ReadyLine, slot: () => void): Promise<void> {
    lines.inFlight += 1;
    try {
      const request = upstreamRequest(await line.bytes(), lines.batch.upstreamModel);
      let outcome;
      if ('invalid' in request) {
        slot();
        outcome = { ...noAnswer(REQUEST_ERROR_CODES.invalidLine, request.invalid), attempts: 0, latencyMs: null };
      } else {
        outcome = await this.upstream.execute(this.provider, lines.batch.endpoint, request.json, lines.abort.signal, slot);
      }
      if (outcome) lines.results.add({ line: line.row.line, outcome });
    } catch (err) {
      // Not the line's fault (its bytes could not be read back): give it back to be claimed again.
      slot();
      await lines.setBack(line.row.line, err as Error);
    } finally {
      lines.sent();
    }
  }
}
