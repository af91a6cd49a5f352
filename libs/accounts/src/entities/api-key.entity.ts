import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** An API key is kept only as its SHA-256 hash and a short visible prefix for operators. */
@Entity('api_keys')
export class ApiKeyEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) id: string;
  @Column({ name: 'account_id', type: 'varchar', length: 64 }) accountId: string;
  @Column({ type: 'varchar', length: 32 }) prefix: string;
  @Index('UQ_api_keys_hash', { unique: true })
  @Column({ name: 'key_hash', type: 'varchar', length: 128 })
  keyHash: string;
  @Column({ name: 'created_at', type: 'integer' }) createdAt: number;
  @Column({ name: 'revoked_at', type: 'integer', nullable: true }) revokedAt: number | null;
}
