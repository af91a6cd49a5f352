import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

export class ListFilesQuery {
  /** A filter, as OpenAI's: any purpose, and one no file has lists nothing. */
  @IsOptional() @IsString() @MaxLength(64) purpose?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10000) limit?: number;
  @IsOptional() @IsString() after?: string;
  @IsOptional() @IsIn(['asc', 'desc']) order?: 'asc' | 'desc';
}
