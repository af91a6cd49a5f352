import { bigintAsNumber } from '@app/persistence';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A worker process that holds request lines: alive while it keeps `aliveUntil` (epoch ms) in the future. */
@Entity('scheduler_workers')
export class SchedulerWorkerEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) owner: string;
  @Column({ name: 'alive_until', type: 'bigint', transformer: bigintAsNumber }) aliveUntil: number;
}
