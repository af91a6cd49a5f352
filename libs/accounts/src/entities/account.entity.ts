import { bigintAsNumber } from '@app/persistence';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/** An account's limit on the input tokens its unfinished batches of one model may hold. */
export interface ModelTokenLimit {
  model: string;
  limit: number;
}

@Entity('accounts')
export class AccountEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) id: string;
  @Column({ type: 'varchar', length: 200 }) name: string;
  @Column({ name: 'webhook_url', type: 'text', nullable: true }) webhookUrl: string | null;
  @Column({ name: 'webhook_secret', type: 'varchar', length: 200 }) webhookSecret: string;
  @Column({ name: 'created_at', type: 'integer' }) createdAt: number;
  /** Its share of a busy provider against other accounts' (see the execution scheduler). */
  @Column({ type: 'integer', default: 1 }) weight: number;
  /** The most it may spend per calendar month (UTC), in micro-units of COST_CURRENCY; null: no limit. */
  @Column({ name: 'monthly_spend_limit_micros', type: 'bigint', nullable: true, transformer: bigintAsNumber }) monthlySpendLimitMicros: number | null;
  /** Quotas (null: no limit): the most unfinished batches; the most enqueued input tokens per model, by default and per model. */
  @Column({ name: 'max_unfinished_batches', type: 'integer', nullable: true }) maxUnfinishedBatches: number | null;
  @Column({ name: 'max_enqueued_tokens', type: 'bigint', nullable: true, transformer: bigintAsNumber }) maxEnqueuedTokens: number | null;
  @Column({ name: 'enqueued_token_limits', type: 'simple-json', nullable: true }) enqueuedTokenLimits: ModelTokenLimit[] | null;
}
