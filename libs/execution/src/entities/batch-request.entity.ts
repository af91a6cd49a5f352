import { bigintAsNumber } from '@app/persistence';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type RequestStatus = 'pending' | 'completed' | 'failed';

/**
 * One request line of a batch. The (batch_id, line) key makes finishing a row idempotent: a row
 * leaves `pending` exactly once, whichever worker (or retry after a crash) gets there first.
 */
@Entity('batch_requests')
@Index('IDX_batch_requests_status', ['batchId', 'status', 'line'])
export class BatchRequestEntity {
  @PrimaryColumn({ name: 'batch_id', type: 'varchar', length: 64 }) batchId: string;
  @PrimaryColumn({ type: 'integer' }) line: number;
  @Column({ name: 'custom_id', type: 'varchar', length: 512 }) customId: string;
  @Column({ name: 'byte_offset', type: 'bigint', transformer: bigintAsNumber })
  byteOffset: number;
  @Column({ name: 'byte_length', type: 'integer' }) byteLength: number;
  @Column({ type: 'varchar', length: 16 }) status: RequestStatus;
  @Column({ type: 'integer', default: 0 }) attempts: number;
  @Column({ name: 'status_code', type: 'integer', nullable: true }) statusCode: number | null;
  @Column({ name: 'latency_ms', type: 'integer', nullable: true }) latencyMs: number | null;
  @Column({ name: 'upstream_request_id', type: 'varchar', length: 200, nullable: true }) upstreamRequestId: string | null;
  /** The upstream response body as JSON text, written into the output file verbatim. */
  @Column({ name: 'response_body', type: 'text', nullable: true }) responseBody: string | null;
  @Column({ name: 'error_code', type: 'varchar', length: 64, nullable: true }) errorCode: string | null;
  @Column({ name: 'error_message', type: 'text', nullable: true }) errorMessage: string | null;
  @Column({ name: 'prompt_tokens', type: 'integer', default: 0 }) promptTokens: number;
  @Column({ name: 'completion_tokens', type: 'integer', default: 0 }) completionTokens: number;
  @Column({ name: 'cached_tokens', type: 'integer', default: 0 }) cachedTokens: number;
  @Column({ name: 'reasoning_tokens', type: 'integer', default: 0 }) reasoningTokens: number;
  /** What this line cost, in micro-units of COST_CURRENCY: computed once, when its result is recorded. */
  @Column({ name: 'cost_micros', type: 'bigint', default: 0, transformer: bigintAsNumber }) costMicros: number;
  /** The worker process holding this pending line (its lease lasts while the worker is alive; see LineLeases). */
  @Index('IDX_batch_requests_lease') @Column({ name: 'lease_owner', type: 'varchar', length: 64, nullable: true }) leaseOwner: string | null;
  @Index('IDX_batch_requests_finished') @Column({ name: 'finished_at', type: 'integer', nullable: true }) finishedAt: number | null;
}
