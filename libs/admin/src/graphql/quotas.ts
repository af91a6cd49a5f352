import { Field, Float, InputType, Int, ObjectType } from '@nestjs/graphql';
import { Type } from 'class-transformer';
import { IsArray, IsInt, IsOptional, IsString, Max, MaxLength, Min, MinLength, ValidateNested } from 'class-validator';

/** Quotas are counts of tokens: GraphQL's Int stops at 2^31, so they travel as Float (whole numbers). */
const MAX_QUOTA = 1e15;

@ObjectType()
@InputType('ModelTokenLimitInput')
export class ModelTokenLimit {
  @Field() @IsString() @MinLength(1) @MaxLength(256) model: string;
  @Field(() => Float, { description: 'Input tokens its unfinished batches of this model may hold' }) @IsInt() @Min(0) @Max(MAX_QUOTA) limit: number;
}

@ObjectType({ description: 'Null is no limit' })
export class AccountQuotas {
  @Field(() => Int, { nullable: true, description: 'The most batches validating, in progress, finalizing or cancelling at once' })
  maxUnfinishedBatches: number | null;
  @Field(() => Float, { nullable: true, description: 'The most input tokens enqueued per model, for models without their own limit' })
  maxEnqueuedTokens: number | null;
  @Field(() => [ModelTokenLimit], { description: 'Per-model limits on the enqueued input tokens (before maxEnqueuedTokens)' })
  enqueuedTokenLimits: ModelTokenLimit[];
}

@ObjectType()
export class ModelTokenUse {
  @Field() model: string;
  @Field(() => Float, { description: "Input tokens its unfinished batches hold (their files' estimates)" }) tokens: number;
  @Field(() => Int) batches: number;
  @Field(() => Float, { nullable: true, description: 'The limit that applies to this model, null for none' }) limit: number | null;
}

@ObjectType({ description: "What the account's unfinished batches hold now, against its quotas" })
export class QuotaUse {
  @Field(() => Int) unfinishedBatches: number;
  @Field(() => [ModelTokenUse]) enqueuedTokens: ModelTokenUse[];
}

@InputType({ description: 'A field left out is kept; null clears it (no limit)' })
export class AccountQuotasInput {
  @Field(() => Int, { nullable: true }) @IsOptional() @IsInt() @Min(0) @Max(1_000_000) maxUnfinishedBatches?: number | null;
  @Field(() => Float, { nullable: true }) @IsOptional() @IsInt() @Min(0) @Max(MAX_QUOTA) maxEnqueuedTokens?: number | null;
  @Field(() => [ModelTokenLimit], { nullable: true, description: 'Replaces the per-model limits; null or [] clears them' })
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => ModelTokenLimit)
  enqueuedTokenLimits?: ModelTokenLimit[] | null;
}
