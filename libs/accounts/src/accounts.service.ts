import { ApiError, Clock, IdGenerator } from '@app/core';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, IsNull, Repository } from 'typeorm';
import { AccountEntity } from './entities/account.entity';
import { ApiKeyEntity } from './entities/api-key.entity';
import { KeyRevocations } from './key-revocations';
import { hashSecret, keyPrefix, newApiKey, newWebhookSecret } from './secrets';

export interface Account {
  id: string;
  name: string;
  webhookUrl: string | null;
  webhookSecret: string;
  createdAt: number;
  weight: number;
  /** The most it may spend per calendar month (UTC), in micro-units of COST_CURRENCY; null: no limit. */
  monthlySpendLimitMicros: number | null;
}

/** Bounds of an account's scheduling weight. */
export const MAX_ACCOUNT_WEIGHT = 1000;

export interface ApiKeySummary {
  id: string;
  accountId: string;
  prefix: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface CreatedApiKey extends ApiKeySummary {
  /** The full key; shown once, never stored. */
  secret: string;
}

/**
 * Key lookups are cached briefly. A revocation clears the entry in every API process at once (through
 * Redis when there are several); this expiry bounds a revocation announcement that got lost.
 */
const KEY_CACHE_TTL_MS = 5_000;
const KEY_CACHE_MAX = 10_000;

@Injectable()
export class AccountsService {
  private readonly keyCache = new Map<string, { accountId: string | null; until: number }>();
  /** Revocations seen so far: a lookup that a revocation overtook does not cache what it read. */
  private revocationsSeen = 0;

  constructor(
    @InjectRepository(AccountEntity) private readonly accounts: Repository<AccountEntity>,
    @InjectRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>,
    private readonly ids: IdGenerator,
    private readonly clock: Clock,
    private readonly revocations: KeyRevocations,
  ) {
    revocations.onRevoked((keyHash) => this.forgetKey(keyHash));
  }

  async createAccount(name: string): Promise<Account> {
    name = name.trim();
    if (name.length === 0 || name.length > 200) throw new ApiError('invalid_request_error', 'name must be 1 to 200 characters', 'name');
    const account = this.accounts.create({
      id: this.ids.next('account'),
      name,
      webhookUrl: null,
      webhookSecret: newWebhookSecret(),
      createdAt: this.clock.nowSeconds(),
      weight: 1,
      monthlySpendLimitMicros: null,
    });
    return this.accounts.save(account);
  }

  async countAccounts(): Promise<number> {
    return this.accounts.count();
  }

  async listAccounts(): Promise<Account[]> {
    return this.accounts.find({ order: { createdAt: 'ASC', id: 'ASC' } });
  }

  async getAccount(id: string): Promise<Account> {
    const account = await this.accounts.findOneBy({ id });
    if (!account) throw ApiError.notFound('account', id, 'accountId');
    return account;
  }

  async findAccountsByIds(ids: readonly string[]): Promise<Account[]> {
    if (ids.length === 0) return [];
    return this.accounts
      .createQueryBuilder('a')
      .where('a.id IN (:...ids)', { ids: [...ids] })
      .getMany();
  }

  /** Creates a key for an account; `secret` may be given (the bootstrap key), otherwise one is generated. */
  async createApiKey(accountId: string, secret: string = newApiKey()): Promise<CreatedApiKey> {
    await this.getAccount(accountId);
    const key = await this.keys.save(
      this.keys.create({
        id: this.ids.next('apiKey'),
        accountId,
        prefix: keyPrefix(secret),
        keyHash: hashSecret(secret),
        createdAt: this.clock.nowSeconds(),
        revokedAt: null,
      }),
    );
    return { ...this.summary(key), secret };
  }

  async revokeApiKey(id: string): Promise<ApiKeySummary> {
    const key = await this.keys.findOneBy({ id });
    if (!key) throw ApiError.notFound('API key', id, 'id');
    if (key.revokedAt === null) {
      key.revokedAt = this.clock.nowSeconds();
      await this.keys.save(key);
    }
    this.forgetKey(key.keyHash);
    await this.revocations.announce(key.keyHash);
    return this.summary(key);
  }

  /** The keys of several accounts in one query, oldest first within each. */
  async listApiKeys(accountIds: readonly string[]): Promise<ApiKeySummary[]> {
    if (accountIds.length === 0) return [];
    const keys = await this.keys.find({ where: { accountId: In([...accountIds]) }, order: { createdAt: 'ASC', id: 'ASC' } });
    return keys.map((k) => this.summary(k));
  }

  /** The account a presented key belongs to, or null when the key is unknown or revoked. */
  async accountIdForKey(secret: string): Promise<string | null> {
    const keyHash = hashSecret(secret);
    const now = Date.now();
    const cached = this.keyCache.get(keyHash);
    if (cached && cached.until > now) return cached.accountId;
    const seen = this.revocationsSeen;
    const key = await this.keys.findOneBy({ keyHash, revokedAt: IsNull() });
    const accountId = key?.accountId ?? null;
    // Unknown keys are not cached, so a flood of random keys cannot fill the cache.
    if (accountId && seen === this.revocationsSeen) {
      if (this.keyCache.size >= KEY_CACHE_MAX) this.keyCache.clear();
      this.keyCache.set(keyHash, { accountId, until: now + KEY_CACHE_TTL_MS });
    }
    return accountId;
  }

  async setWebhookUrl(accountId: string, url: string | null): Promise<Account> {
    const account = await this.getAccount(accountId);
    account.webhookUrl = url;
    return this.accounts.save(account);
  }

  /** Sets the account's share of a busy provider relative to other accounts (1 by default). */
  async setWeight(accountId: string, weight: number): Promise<Account> {
    if (!Number.isInteger(weight) || weight < 1 || weight > MAX_ACCOUNT_WEIGHT) {
      throw new ApiError('invalid_request_error', `weight must be an integer from 1 to ${MAX_ACCOUNT_WEIGHT}`, 'weight');
    }
    const account = await this.getAccount(accountId);
    account.weight = weight;
    return this.accounts.save(account);
  }

  /** Sets the account's monthly spend limit in micro-units (null: none). Batches check it at create and while they run. */
  async setMonthlySpendLimit(accountId: string, micros: number | null): Promise<Account> {
    const account = await this.getAccount(accountId);
    account.monthlySpendLimitMicros = micros;
    return this.accounts.save(account);
  }

  /** The weights of these accounts (1 for any it does not know). */
  async weights(ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rows = await this.accounts.find({ where: { id: In([...ids]) }, select: { id: true, weight: true } });
    return new Map(rows.map((r) => [r.id, r.weight]));
  }

  async rotateWebhookSecret(accountId: string): Promise<Account> {
    const account = await this.getAccount(accountId);
    account.webhookSecret = newWebhookSecret();
    return this.accounts.save(account);
  }

  private forgetKey(keyHash: string): void {
    this.revocationsSeen += 1;
    this.keyCache.delete(keyHash);
  }

  private summary(key: ApiKeyEntity): ApiKeySummary {
    return { id: key.id, accountId: key.accountId, prefix: key.prefix, createdAt: key.createdAt, revokedAt: key.revokedAt };
  }
}
