import { Type } from 'class-transformer';
import { BATCH_ENDPOINTS } from '@app/core';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';

/**
 * The highest max_concurrency: what one worker process holds in flight, measured in bench/dispatch.ts
 * (docs/performance.md): 10,000 in flight held 740 MB (160 MB at start, 60 to 90 KB a request).
 */
export const MAX_PROVIDER_CONCURRENCY = 10_000;

/** The provider's limits for one batch on its Batch API (OpenAI's: 50,000 requests, 200 MB), and the bounds an operator may set. */
export const PROVIDER_BATCH_DEFAULTS = { pollIntervalMs: 30_000, maxLines: 50_000, maxBytes: 200 * 1024 * 1024 } as const;
export const PROVIDER_BATCH_BOUNDS = {
  pollIntervalMs: { min: 100, max: 3_600_000 },
  maxLines: { min: 1, max: 100_000 },
  maxBytes: { min: 1024, max: 1024 * 1024 * 1024 },
} as const;

const ID = /^[A-Za-z0-9._@:/-]{1,64}$/;

/** A provider as the routing file and the admin API describe it. */
export class ProviderInput {
  @Matches(ID, { message: 'id must be 1-64 letters, digits or . _ @ : / -' }) id: string;
  @IsIn(['openai', 'mock']) kind: 'openai' | 'mock';
  @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'base_url must be an http(s) URL' }) base_url?: string;
  @IsOptional() @Matches(/^[A-Z_][A-Z0-9_]*$/, { message: 'api_key_env must be an environment variable name' }) api_key_env?: string;
  @IsOptional() @IsInt() @Min(1) @Max(MAX_PROVIDER_CONCURRENCY) max_concurrency?: number;
  @IsOptional() @IsInt() @Min(1) rate_limit_per_minute?: number;
  @IsOptional() @IsInt() @Min(100) timeout_ms?: number;
  @IsOptional() @IsBoolean() batch_api?: boolean;
  @IsOptional() @IsInt() @Min(PROVIDER_BATCH_BOUNDS.pollIntervalMs.min) @Max(PROVIDER_BATCH_BOUNDS.pollIntervalMs.max) batch_poll_interval_ms?: number;
  @IsOptional() @IsInt() @Min(PROVIDER_BATCH_BOUNDS.maxLines.min) @Max(PROVIDER_BATCH_BOUNDS.maxLines.max) max_batch_lines?: number;
  @IsOptional() @IsInt() @Min(PROVIDER_BATCH_BOUNDS.maxBytes.min) @Max(PROVIDER_BATCH_BOUNDS.maxBytes.max) max_batch_bytes?: number;
}

export class SkuInput {
  @Matches(ID, { message: 'id must be 1-64 letters, digits or . _ @ : / -' }) id: string;
  @IsString() @Matches(/^\S{1,200}$/, { message: 'model must be 1-200 non-blank characters' }) model: string;
  @Matches(ID, { message: 'provider must be a provider id' }) provider: string;
  @IsString() @Matches(/^\S{1,200}$/, { message: 'upstream_model must be 1-200 non-blank characters' }) upstream_model: string;
  @IsOptional() @IsBoolean() batch_capable?: boolean;
  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(BATCH_ENDPOINTS.length)
  @IsIn(BATCH_ENDPOINTS, { each: true, message: `endpoints must be a list of: ${BATCH_ENDPOINTS.join(', ')}` })
  endpoints?: string[];
  @IsOptional() @IsBoolean() active?: boolean;
  @IsOptional() @IsInt() priority?: number;
  @IsOptional() @IsInt() @Min(1) weight?: number;
  @IsOptional() @IsNumber() @Min(0) input_price_per_mtok?: number;
  @IsOptional() @IsNumber() @Min(0) output_price_per_mtok?: number;
  /** 0..1 off both prices when the SKU's provider runs it on its Batch API (batch_api: true). */
  @IsOptional() @IsNumber() @Min(0) @Max(1) batch_discount?: number;
}

export class RoutingFile {
  @IsOptional() @ValidateNested({ each: true }) @Type(() => ProviderInput) providers?: ProviderInput[];
  @IsOptional() @ValidateNested({ each: true }) @Type(() => SkuInput) skus?: SkuInput[];
}
