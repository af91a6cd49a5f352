import { bigintAsNumber } from '@app/persistence';
import { Column, Entity, PrimaryColumn } from 'typeorm';

export type ProviderKind = 'openai' | 'mock';

/** An upstream: where requests go and how hard they may be pushed. The secret stays in the environment. */
@Entity('providers')
export class ProviderEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) id: string;
  @Column({ type: 'varchar', length: 32 }) kind: ProviderKind;
  @Column({ name: 'base_url', type: 'text' }) baseUrl: string;
  @Column({ name: 'api_key_env', type: 'varchar', length: 128, nullable: true }) apiKeyEnv: string | null;
  @Column({ name: 'max_concurrency', type: 'integer', default: 16 }) maxConcurrency: number;
  @Column({ name: 'rate_limit_per_minute', type: 'integer', nullable: true }) rateLimitPerMinute: number | null;
  @Column({ name: 'timeout_ms', type: 'integer', nullable: true }) timeoutMs: number | null;
  /** Batches routed here run on the provider's own Files + Batches API instead of realtime requests. */
  @Column({ name: 'batch_api', type: 'boolean', default: false }) batchApi: boolean;
  @Column({ name: 'batch_poll_interval_ms', type: 'integer', default: 30_000 }) batchPollIntervalMs: number;
  @Column({ name: 'max_batch_lines', type: 'integer', default: 50_000 }) maxBatchLines: number;
  @Column({ name: 'max_batch_bytes', type: 'bigint', default: 209_715_200, transformer: bigintAsNumber }) maxBatchBytes: number;
  @Column({ name: 'created_at', type: 'integer' }) createdAt: number;
  @Column({ name: 'updated_at', type: 'integer' }) updatedAt: number;
}
