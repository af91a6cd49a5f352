import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('accounts')
export class AccountEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) id: string;
  @Column({ type: 'varchar', length: 200 }) name: string;
  @Column({ name: 'webhook_url', type: 'text', nullable: true }) webhookUrl: string | null;
  @Column({ name: 'webhook_secret', type: 'varchar', length: 200 }) webhookSecret: string;
  @Column({ name: 'created_at', type: 'integer' }) createdAt: number;
  /** Its share of a busy provider against other accounts' (see the execution scheduler). */
  @Column({ type: 'integer', default: 1 }) weight: number;
}
