import { bigintAsNumber } from '@app/persistence';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type WebhookEventStatus = 'pending' | 'delivered' | 'failed';

/** The outbox: written in the transaction of the batch's terminal status change, delivered after. */
@Entity('webhook_events')
@Index('IDX_webhook_events_due', ['status', 'nextAttemptAt'])
@Index('UQ_webhook_events_batch_type', ['batchId', 'type'], { unique: true })
export class WebhookEventEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) id: string;
  @Column({ name: 'account_id', type: 'varchar', length: 64 }) accountId: string;
  @Column({ name: 'batch_id', type: 'varchar', length: 64 }) batchId: string;
  @Column({ type: 'varchar', length: 64 }) type: string;
  @Column({ name: 'target_url', type: 'text' }) targetUrl: string;
  /** The exact JSON body that is signed and sent, the same on every attempt. */
  @Column({ type: 'text' }) payload: string;
  @Column({ type: 'varchar', length: 16 }) status: WebhookEventStatus;
  @Column({ type: 'integer', default: 0 }) attempts: number;
  @Column({ name: 'next_attempt_at', type: 'bigint', nullable: true, transformer: bigintAsNumber }) nextAttemptAt: number | null;
  @Column({ name: 'created_at', type: 'integer' }) createdAt: number;
  @Column({ name: 'delivered_at', type: 'integer', nullable: true }) deliveredAt: number | null;
  @Column({ name: 'last_error', type: 'text', nullable: true }) lastError: string | null;
}
