import { bigintAsNumber } from '@app/persistence';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A worker process that holds request lines: alive while it keeps `aliveUntil` (epoch ms) in the future.
 * Its heartbeat also records its requests in flight per provider (`{"provider-id": n}`), for the admin overview.
 */
@Entity('scheduler_workers')
export class SchedulerWorkerEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) owner: string;
  @Column({ name: 'alive_until', type: 'bigint', transformer: bigintAsNumber }) aliveUntil: number;
  @Column({ name: 'in_flight', type: 'text', nullable: true }) inFlight: string | null;
}
