import { ApiError } from '@app/core';
import { Transaction } from '@app/persistence';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AccountQuotasRepository } from './account-quotas.repository';
import { AccountEntity, ModelTokenLimit } from './entities/account.entity';

export type { ModelTokenLimit };

/** An account's quotas; null is no limit. */
export interface AccountQuotas {
  /** The most batches it may have unfinished (validating, in progress, finalizing, cancelling). */
  maxUnfinishedBatches: number | null;
  /** The most input tokens its unfinished batches of any one model may hold, for models not in `enqueuedTokenLimits`. */
  maxEnqueuedTokens: number | null;
  /** Per-model limits on the enqueued input tokens (they take precedence over `maxEnqueuedTokens`). */
  enqueuedTokenLimits: ModelTokenLimit[];
}

/** A change of quotas: a field left out is kept, null clears it (no limit). */
export type QuotasChange = { [K in keyof AccountQuotas]?: AccountQuotas[K] | null };

/** Upper bound of a quota, far above any real one (it keeps sums within a double's exact integers). */
const MAX_QUOTA = 1e15;

/** The enqueued-token limit that applies to `model`, or null. */
export function tokenLimitFor(quotas: AccountQuotas, model: string): number | null {
  return quotas.enqueuedTokenLimits.find((l) => l.model === model)?.limit ?? quotas.maxEnqueuedTokens;
}

/** Per-account quotas, set by operators (admin API) and held at batch create. */
@Injectable()
export class AccountQuotasService {
  constructor(
    @InjectRepository(AccountEntity) private readonly accounts: Repository<AccountEntity>,
    private readonly repository: AccountQuotasRepository,
  ) {}

  async get(accountId: string): Promise<AccountQuotas> {
    const account = await this.accounts.findOneBy({ id: accountId });
    if (!account) throw ApiError.notFound('account', accountId, 'accountId');
    return quotasOf(account);
  }

  async set(accountId: string, change: QuotasChange): Promise<AccountQuotas> {
    const account = await this.accounts.findOneBy({ id: accountId });
    if (!account) throw ApiError.notFound('account', accountId, 'accountId');
    if (change.maxUnfinishedBatches !== undefined) account.maxUnfinishedBatches = checkedLimit(change.maxUnfinishedBatches, 'maxUnfinishedBatches');
    if (change.maxEnqueuedTokens !== undefined) account.maxEnqueuedTokens = checkedLimit(change.maxEnqueuedTokens, 'maxEnqueuedTokens');
    if (change.enqueuedTokenLimits !== undefined) {
      const limits = change.enqueuedTokenLimits ?? [];
      const models = new Set<string>();
      for (const l of limits) {
        if (typeof l.model !== 'string' || l.model.length === 0 || l.model.length > 256) {
          throw new ApiError('invalid_request_error', 'enqueuedTokenLimits: model must be 1 to 256 characters', 'enqueuedTokenLimits');
        }
        if (models.has(l.model)) throw new ApiError('invalid_request_error', `enqueuedTokenLimits: model '${l.model}' is listed twice`, 'enqueuedTokenLimits');
        models.add(l.model);
        checkedLimit(l.limit, 'enqueuedTokenLimits');
      }
      account.enqueuedTokenLimits = limits.length > 0 ? limits.map((l) => ({ model: l.model, limit: l.limit })) : null;
    }
    await this.accounts.save(account);
    return quotasOf(account);
  }

  /** The account's quotas read with its row locked in `tx` (see AccountQuotasRepository.lockIn). */
  async lock(tx: Transaction, accountId: string): Promise<AccountQuotas> {
    const account = await this.repository.lockIn(tx, accountId);
    if (!account) throw ApiError.notFound('account', accountId, 'accountId');
    return quotasOf(account);
  }
}

function quotasOf(account: AccountEntity): AccountQuotas {
  return {
    maxUnfinishedBatches: account.maxUnfinishedBatches,
    maxEnqueuedTokens: account.maxEnqueuedTokens,
    enqueuedTokenLimits: account.enqueuedTokenLimits ?? [],
  };
}

function checkedLimit(value: number | null, param: string): number | null {
  if (value === null) return null;
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_QUOTA) {
    throw new ApiError('invalid_request_error', `${param} must be a whole number from 0 to ${MAX_QUOTA}, or null for no limit`, param);
  }
  return value;
}
