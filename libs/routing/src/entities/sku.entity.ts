import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** A public model name served by one provider under its upstream model name. */
@Entity('skus')
export class SkuEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) id: string;
  @Index('IDX_skus_model') @Column({ type: 'varchar', length: 200 }) model: string;
  @Column({ name: 'provider_id', type: 'varchar', length: 64 }) providerId: string;
  @Column({ name: 'upstream_model', type: 'varchar', length: 200 }) upstreamModel: string;
  @Column({ name: 'batch_capable', type: 'boolean' }) batchCapable: boolean;
  /** The batch endpoints this SKU serves (null: chat completions only, as before endpoints were declared). */
  @Column({ type: 'simple-json', nullable: true }) endpoints: string[] | null;
  @Column({ type: 'boolean' }) active: boolean;
  @Column({ type: 'integer', default: 0 }) priority: number;
  @Column({ type: 'integer', default: 1 }) weight: number;
  @Column({ name: 'input_price_per_mtok', type: 'float', nullable: true }) inputPricePerMtok: number | null;
  @Column({ name: 'output_price_per_mtok', type: 'float', nullable: true }) outputPricePerMtok: number | null;
  /** 0..1 off both prices when the batch runs on the provider's Batch API (execution provider_batch); null: none. */
  @Column({ name: 'batch_discount', type: 'float', nullable: true }) batchDiscount: number | null;
  @Column({ name: 'created_at', type: 'integer' }) createdAt: number;
  @Column({ name: 'updated_at', type: 'integer' }) updatedAt: number;
}
