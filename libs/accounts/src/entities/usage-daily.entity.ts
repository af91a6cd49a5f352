import { bigintAsNumber } from '@app/persistence';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * Usage and cost summed per account, UTC day, model and provider, added in the same transaction as the
 * request rows they count (so each line counts once). Month-to-date spend and the usage report read it.
 */
@Entity('usage_daily')
export class UsageDailyEntity {
  @PrimaryColumn({ name: 'account_id', type: 'varchar', length: 64 }) accountId: string;
  /** `YYYY-MM-DD`, UTC. */
  @Index('IDX_usage_daily_day') @PrimaryColumn({ type: 'varchar', length: 10 }) day: string;
  @PrimaryColumn({ type: 'varchar', length: 200 }) model: string;
  @PrimaryColumn({ name: 'provider_id', type: 'varchar', length: 64 }) providerId: string;
  @Column({ type: 'bigint', default: 0, transformer: bigintAsNumber }) requests: number;
  @Column({ name: 'prompt_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber }) promptTokens: number;
  @Column({ name: 'completion_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber }) completionTokens: number;
  @Column({ name: 'cached_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber }) cachedTokens: number;
  @Column({ name: 'cost_micros', type: 'bigint', default: 0, transformer: bigintAsNumber }) costMicros: number;
}
