import { ArgsType, Field, ID, InputType, Int, Float } from '@nestjs/graphql';
import { Type } from 'class-transformer';
import { BATCH_ENDPOINTS } from '@app/core';
import { ArrayNotEmpty, IsArray, IsBoolean, IsIn, IsInt, IsNumber, IsOptional, IsString, Matches, Max, Min, ValidateNested } from 'class-validator';
import { BATCH_STATUSES } from '@app/batches';
import { MAX_PROVIDER_CONCURRENCY, PROVIDER_BATCH_BOUNDS } from '@app/routing';
import { ADMIN_QUERY_LIMITS } from '../query-limits';

@InputType()
export class BatchFilter {
  @Field(() => [String], { nullable: true }) @IsOptional() @IsIn(BATCH_STATUSES, { each: true }) status?: string[];
  @Field(() => ID, { nullable: true }) @IsOptional() @IsString() accountId?: string;
  @Field({ nullable: true }) @IsOptional() @IsString() model?: string;
  @Field(() => Int, { nullable: true, description: 'created_at >= this (unix seconds)' }) @IsOptional() @IsInt() createdAfter?: number;
  @Field(() => Int, { nullable: true, description: 'created_at < this (unix seconds)' }) @IsOptional() @IsInt() createdBefore?: number;
  @Field({ nullable: true }) @IsOptional() @IsString() metadataKey?: string;
  @Field({ nullable: true, description: 'With metadataKey: the value it must have' }) @IsOptional() @IsString() metadataValue?: string;
}

@ArgsType()
export class BatchesArgs {
  @Field(() => BatchFilter, { nullable: true }) @IsOptional() @ValidateNested() @Type(() => BatchFilter) filter?: BatchFilter;
  @Field(() => Int, { defaultValue: 20 }) @IsInt() @Min(1) @Max(ADMIN_QUERY_LIMITS.batchesPageMax) first: number;
  @Field(() => String, { nullable: true }) @IsOptional() @IsString() after?: string;
}

@InputType()
export class ProviderUpsertInput {
  @Field(() => ID) @Matches(/^[A-Za-z0-9._@:/-]{1,64}$/) id: string;
  @Field() @IsIn(['openai', 'mock']) kind: 'openai' | 'mock';
  @Field({ nullable: true }) @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'baseUrl must be an http(s) URL' }) baseUrl?: string;
  @Field({ nullable: true })
  @IsOptional()
  @Matches(/^[A-Z_][A-Z0-9_]{0,127}$/, { message: 'apiKeyEnv must be an environment variable name (A-Z, 0-9, _; at most 128 characters)' })
  apiKeyEnv?: string;
  @Field(() => Int, { nullable: true }) @IsOptional() @IsInt() @Min(1) @Max(MAX_PROVIDER_CONCURRENCY) maxConcurrency?: number;
  @Field(() => Int, { nullable: true }) @IsOptional() @IsInt() @Min(1) rateLimitPerMinute?: number;
  @Field(() => Int, { nullable: true }) @IsOptional() @IsInt() @Min(100) timeoutMs?: number;
  @Field({ nullable: true }) @IsOptional() @IsBoolean() batchApi?: boolean;
  @Field(() => Int, { nullable: true })
  @IsOptional()
  @IsInt()
  @Min(PROVIDER_BATCH_BOUNDS.pollIntervalMs.min)
  @Max(PROVIDER_BATCH_BOUNDS.pollIntervalMs.max)
  batchPollIntervalMs?: number;
  @Field(() => Int, { nullable: true })
  @IsOptional()
  @IsInt()
  @Min(PROVIDER_BATCH_BOUNDS.maxLines.min)
  @Max(PROVIDER_BATCH_BOUNDS.maxLines.max)
  maxBatchLines?: number;
  @Field(() => Int, { nullable: true })
  @IsOptional()
  @IsInt()
  @Min(PROVIDER_BATCH_BOUNDS.maxBytes.min)
  @Max(PROVIDER_BATCH_BOUNDS.maxBytes.max)
  maxBatchBytes?: number;
}

@InputType()
export class SkuUpsertInput {
  @Field(() => ID) @Matches(/^[A-Za-z0-9._@:/-]{1,64}$/) id: string;
  // The routing file's rules (SkuInput), so a name the database cannot hold is refused on its field, not as an internal error.
  @Field() @IsString() @Matches(/^\S{1,200}$/, { message: 'model must be 1-200 characters without spaces' }) model: string;
  @Field() @IsString() providerId: string;
  @Field() @IsString() @Matches(/^\S{1,200}$/, { message: 'upstreamModel must be 1-200 characters without spaces' }) upstreamModel: string;
  @Field({ nullable: true }) @IsOptional() @IsBoolean() batchCapable?: boolean;
  @Field(() => [String], { nullable: true, description: `Batch endpoints served (default /v1/chat/completions): ${BATCH_ENDPOINTS.join(', ')}` })
  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @IsIn(BATCH_ENDPOINTS, { each: true, message: `endpoints must be a list of: ${BATCH_ENDPOINTS.join(', ')}` })
  endpoints?: string[];
  @Field({ nullable: true }) @IsOptional() @IsBoolean() active?: boolean;
  @Field(() => Int, { nullable: true }) @IsOptional() @IsInt() priority?: number;
  @Field(() => Int, { nullable: true }) @IsOptional() @IsInt() @Min(1) weight?: number;
  @Field(() => Float, { nullable: true }) @IsOptional() @IsNumber() @Min(0) inputPricePerMtok?: number;
  @Field(() => Float, { nullable: true }) @IsOptional() @IsNumber() @Min(0) outputPricePerMtok?: number;
  @Field(() => Float, { nullable: true, description: '0 to 1 off both prices when the provider runs the batch on its Batch API (batch_api)' })
  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(1)
  batchDiscount?: number;
}
