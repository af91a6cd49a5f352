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
  @Column({ name: 'created_at', type: 'integer' }) createdAt: number;
  @Column({ name: 'updated_at', type: 'integer' }) updatedAt: number;
}
