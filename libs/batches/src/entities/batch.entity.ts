import { bigintAsNumber } from '@app/persistence';
import type { BatchEndpoint } from '@app/core';
import type { ExecutionMode } from '@app/routing';
import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export const BATCH_STATUSES = ['validating', 'failed', 'in_progress', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];
export type StopReason = 'expired' | 'spend_limit';

export interface BatchErrorEntry {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

@Entity('batches')
@Index('IDX_batches_account', ['accountId', 'seq'])
export class BatchEntity {
  @PrimaryGeneratedColumn('increment') seq: number;
  @Index('UQ_batches_id', { unique: true }) @Column({ type: 'varchar', length: 64 }) id: string;
  @Column({ name: 'account_id', type: 'varchar', length: 64 }) accountId: string;
  @Index('IDX_batches_input_file') @Column({ name: 'input_file_id', type: 'varchar', length: 64 }) inputFileId: string;
  @Column({ type: 'varchar', length: 64 }) endpoint: BatchEndpoint;
  @Column({ name: 'completion_window', type: 'varchar', length: 16 }) completionWindow: string;
  @Index('IDX_batches_status') @Column({ type: 'varchar', length: 16 }) status: BatchStatus;
  /** Set when the batch must stop early for a reason other than a client's cancel: expiry, or its account's spend limit. */
  @Column({ name: 'stop_reason', type: 'varchar', length: 16, nullable: true }) stopReason: StopReason | null;
  @Column({ type: 'varchar', length: 200 }) model: string;
  @Column({ name: 'sku_id', type: 'varchar', length: 64 }) skuId: string;
  @Column({ name: 'provider_id', type: 'varchar', length: 64 }) providerId: string;
  @Column({ name: 'upstream_model', type: 'varchar', length: 200 }) upstreamModel: string;
  @Column({ type: 'varchar', length: 16, default: 'realtime' }) execution: ExecutionMode;
  @Column({ name: 'output_file_id', type: 'varchar', length: 64, nullable: true }) outputFileId: string | null;
  @Column({ name: 'error_file_id', type: 'varchar', length: 64, nullable: true }) errorFileId: string | null;
  @Column({ name: 'created_at', type: 'integer' }) createdAt: number;
  @Column({ name: 'in_progress_at', type: 'integer', nullable: true }) inProgressAt: number | null;
  @Column({ name: 'expires_at', type: 'integer' }) expiresAt: number;
  @Column({ name: 'finalizing_at', type: 'integer', nullable: true }) finalizingAt: number | null;
  @Column({ name: 'completed_at', type: 'integer', nullable: true }) completedAt: number | null;
  @Column({ name: 'failed_at', type: 'integer', nullable: true }) failedAt: number | null;
  @Column({ name: 'expired_at', type: 'integer', nullable: true }) expiredAt: number | null;
  @Column({ name: 'cancelling_at', type: 'integer', nullable: true }) cancellingAt: number | null;
  @Column({ name: 'cancelled_at', type: 'integer', nullable: true }) cancelledAt: number | null;
  @Column({ type: 'integer', default: 0 }) total: number;
  @Column({ type: 'integer', default: 0 }) completed: number;
  @Column({ type: 'integer', default: 0 }) failed: number;
  /** Lines the provider batches report finished whose results are not yet collected (provider_batch only). */
  @Column({ name: 'remote_completed', type: 'integer', default: 0 }) remoteCompleted: number;
  @Column({ name: 'remote_failed', type: 'integer', default: 0 }) remoteFailed: number;
  @Column({ name: 'prompt_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber }) promptTokens: number;
  @Column({ name: 'completion_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber }) completionTokens: number;
  @Column({ name: 'total_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber }) totalTokens: number;
  @Column({ name: 'cached_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber }) cachedTokens: number;
  @Column({ name: 'reasoning_tokens', type: 'bigint', default: 0, transformer: bigintAsNumber }) reasoningTokens: number;
  /** The prices this batch runs at, locked at create from its SKU (batch discount applied): later price edits do not change it. */
  @Column({ name: 'input_price_per_mtok', type: 'float', nullable: true }) inputPricePerMtok: number | null;
  @Column({ name: 'output_price_per_mtok', type: 'float', nullable: true }) outputPricePerMtok: number | null;
  /** COST_CURRENCY when the batch was created; null when its SKU has no prices (no cost is shown). */
  @Column({ name: 'cost_currency', type: 'varchar', length: 3, nullable: true }) costCurrency: string | null;
  /** The sum of its request rows' costs, in micro-units of COST_CURRENCY; added in the transactions that finish them. */
  @Column({ name: 'cost_micros', type: 'bigint', default: 0, transformer: bigintAsNumber }) costMicros: number;
  @Column({ type: 'simple-json', nullable: true }) metadata: Record<string, string> | null;
  @Column({ type: 'simple-json', nullable: true }) errors: BatchErrorEntry[] | null;
  @Column({ name: 'callback_url', type: 'text', nullable: true }) callbackUrl: string | null;
  /** `output_expires_after.seconds`: the output and error files expire this long after they are written. */
  @Column({ name: 'output_expires_after_seconds', type: 'integer', default: 2_592_000 }) outputExpiresAfterSeconds: number;
  /** Its input file's token estimate at create: what it adds to its account's enqueued tokens while unfinished (null: not known then). */
  @Column({ name: 'input_tokens_estimate', type: 'bigint', nullable: true, transformer: bigintAsNumber }) inputTokensEstimate: number | null;
}
