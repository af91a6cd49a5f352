import { bigintAsNumber } from '@app/persistence';
import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export interface LineProblem {
  line: number;
  message: string;
}

export type TokenCountState = 'pending' | 'counted';

export interface FileEndpoint {
  url: string;
  line: number;
}

@Entity('files')
@Index('IDX_files_account', ['accountId', 'seq'])
@Index('IDX_files_expiry', ['expiresAt', 'seq'])
export class FileEntity {
  @PrimaryGeneratedColumn('increment') seq: number;
  @Index('UQ_files_id', { unique: true }) @Column({ type: 'varchar', length: 64 }) id: string;
  @Column({ name: 'account_id', type: 'varchar', length: 64 }) accountId: string;
  @Column({ type: 'varchar', length: 512 }) filename: string;
  @Column({ type: 'varchar', length: 32 }) purpose: string;
  @Column({ type: 'bigint', transformer: bigintAsNumber }) bytes: number;
  @Column({ type: 'varchar', length: 32 }) status: string;
  @Column({ name: 'created_at', type: 'integer' }) createdAt: number;
  @Column({ name: 'expires_at', type: 'integer', nullable: true }) expiresAt: number | null;
  @Column({ name: 'storage_key', type: 'varchar', length: 256 }) storageKey: string;
  @Column({ name: 'line_count', type: 'integer', default: 0 }) lineCount: number;
  @Column({ type: 'simple-json', nullable: true }) models: string[] | null;
  /** The endpoints the lines name, each with its first line (null for files uploaded before endpoints were recorded: chat completions). */
  @Column({ type: 'simple-json', nullable: true }) endpoints: FileEndpoint[] | null;
  @Column({ name: 'validation_errors', type: 'simple-json', nullable: true }) validationErrors: LineProblem[] | null;
  /** The input tokens of a `purpose=batch` file, counted off the request path (null until counted). */
  @Column({ name: 'input_tokens_estimate', type: 'bigint', nullable: true, transformer: bigintAsNumber }) inputTokensEstimate: number | null;
  /** `pending` from the upload until the count is written, then `counted`; null for generated files. */
  @Column({ name: 'token_count_state', type: 'varchar', length: 16, nullable: true }) tokenCountState: TokenCountState | null;
}
