import { bigintAsNumber } from '@app/persistence';
import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

@Entity('webhook_attempts')
@Index('IDX_webhook_attempts_event', ['eventId', 'attempt'])
export class WebhookAttemptEntity {
  @PrimaryGeneratedColumn('increment') seq: number;
  @Column({ name: 'event_id', type: 'varchar', length: 64 }) eventId: string;
  @Column({ type: 'integer' }) attempt: number;
  @Column({ name: 'attempted_at', type: 'bigint', transformer: bigintAsNumber })
  attemptedAt: number;
  @Column({ name: 'status_code', type: 'integer', nullable: true }) statusCode: number | null;
  @Column({ name: 'latency_ms', type: 'integer' }) latencyMs: number;
  @Column({ type: 'text', nullable: true }) error: string | null;
}
