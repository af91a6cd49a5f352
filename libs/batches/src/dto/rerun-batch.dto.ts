import { ArrayMaxSize, ArrayMinSize, IsArray, IsOptional, IsString, MaxLength } from 'class-validator';

/** The body of `POST /v1/batches/{id}/rerun` (optional: no body reruns the default selection). */
export class RerunBatchDto {
  /** Only the failed lines that ended with one of these line codes; absent: the default selection (docs/api.md). */
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1, { message: 'error_codes must name at least one code; omit it for the default selection' })
  @ArrayMaxSize(32)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  error_codes?: string[];
}
