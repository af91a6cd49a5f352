import { bigintAsNumber } from '@app/persistence';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * Where a part stands: `pending` (not yet a provider batch), `submitted` (a provider batch exists and
 * its results are not yet recorded), then one of `collected` (its results recorded), `failed` (the
 * provider refused or failed it; its lines are error lines) or `skipped` (our batch halted or ended
 * first).
 */
export const PART_STATES = ['pending', 'submitted', 'collected', 'failed', 'skipped'] as const;
export type PartState = (typeof PART_STATES)[number];
export const OPEN_PART_STATES: readonly PartState[] = ['pending', 'submitted'];

/**
 * One part of a batch run on a provider's Batch API: a contiguous range of lines, submitted as one
 * provider batch. The provider's file and batch ids are recorded as soon as they exist, and
 * `create_started_at` before the create is sent, so that after a crash the batch the provider may
 * already hold is looked up (by its metadata) and adopted instead of created twice. A worker works on
 * a part only while it holds it (`lease_owner`, alive in scheduler_workers).
 */
@Entity('provider_batches')
@Index('IDX_provider_batches_due', ['state', 'nextAt'])
export class ProviderBatchEntity {
  @PrimaryColumn({ name: 'batch_id', type: 'varchar', length: 64 }) batchId: string;
  /** 1, 2, …: the part's position in the batch (its metadata `gateway_part` at the provider). */
  @PrimaryColumn({ type: 'integer' }) part: number;
  @Column({ name: 'provider_id', type: 'varchar', length: 64 }) providerId: string;
  @Column({ name: 'first_line', type: 'integer' }) firstLine: number;
  @Column({ name: 'last_line', type: 'integer' }) lastLine: number;
  @Column({ type: 'varchar', length: 16 }) state: PartState;
  @Column({ name: 'provider_file_id', type: 'varchar', length: 200, nullable: true }) providerFileId: string | null;
  @Column({ name: 'provider_batch_id', type: 'varchar', length: 200, nullable: true }) providerBatchId: string | null;
  /** The provider batch's status at the last poll (validating, in_progress, …, completed). */
  @Column({ name: 'provider_status', type: 'varchar', length: 32, nullable: true }) providerStatus: string | null;
  @Column({ name: 'provider_total', type: 'integer', default: 0 }) providerTotal: number;
  /** Finished lines the provider reports and whose results are not yet recorded here. */
  @Column({ name: 'provider_completed', type: 'integer', default: 0 }) providerCompleted: number;
  @Column({ name: 'provider_failed', type: 'integer', default: 0 }) providerFailed: number;
  @Column({ name: 'output_file_id', type: 'varchar', length: 200, nullable: true }) outputFileId: string | null;
  @Column({ name: 'error_file_id', type: 'varchar', length: 200, nullable: true }) errorFileId: string | null;
  @Column({ name: 'create_started_at', type: 'integer', nullable: true }) createStartedAt: number | null;
  @Column({ name: 'cancel_requested_at', type: 'integer', nullable: true }) cancelRequestedAt: number | null;
  @Column({ name: 'last_polled_at', type: 'integer', nullable: true }) lastPolledAt: number | null;
  /** Provider calls that failed in a row (polls, uploads): the next try backs off by it. */
  @Column({ type: 'integer', default: 0 }) failures: number;
  @Column({ type: 'text', nullable: true }) error: string | null;
  /** When the part is next due (epoch ms): its next poll, or a retry after trouble. */
  @Column({ name: 'next_at', type: 'bigint', transformer: bigintAsNumber }) nextAt: number;
  @Column({ name: 'lease_owner', type: 'varchar', length: 64, nullable: true }) leaseOwner: string | null;
  @Column({ name: 'created_at', type: 'integer' }) createdAt: number;
  @Column({ name: 'updated_at', type: 'integer' }) updatedAt: number;
}
