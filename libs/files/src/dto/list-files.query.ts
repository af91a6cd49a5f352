import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { FILE_PURPOSES, FilePurpose } from '../file.types';

export class ListFilesQuery {
  @IsOptional() @IsIn(FILE_PURPOSES) purpose?: FilePurpose;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(10000) limit?: number;
  @IsOptional() @IsString() after?: string;
  @IsOptional() @IsIn(['asc', 'desc']) order?: 'asc' | 'desc';
}
