import { Field, Float, ID, InputType, ObjectType, registerEnumType } from '@nestjs/graphql';
import { IsIn, IsOptional, IsString, Matches } from 'class-validator';

@ObjectType({ description: 'An amount of money in the gateway currency (COST_CURRENCY)' })
export class MoneyModel {
  @Field() currency: string;
  @Field({ description: 'Decimal string with six places, e.g. "0.001234"' }) amount: string;
}

export enum UsageDimension {
  account = 'account',
  model = 'model',
  day = 'day',
  provider = 'provider',
}
registerEnumType(UsageDimension, { name: 'UsageDimension', description: 'What a usage report row is grouped by' });

export const DAY = /^\d{4}-\d{2}-\d{2}$/;

@InputType()
export class UsageReportInput {
  @Field({ description: 'First UTC day, YYYY-MM-DD (inclusive)' }) @IsString() @Matches(DAY, { message: 'from must be YYYY-MM-DD' }) from: string;
  @Field({ description: 'Last UTC day, YYYY-MM-DD (inclusive)' }) @IsString() @Matches(DAY, { message: 'to must be YYYY-MM-DD' }) to: string;
  @Field(() => [UsageDimension], { nullable: true, description: 'Default: account, model, day' })
  @IsOptional()
  @IsIn(Object.values(UsageDimension), { each: true })
  groupBy?: UsageDimension[];
  @Field(() => ID, { nullable: true, description: 'Only this account' }) @IsOptional() @IsString() accountId?: string;
}

@ObjectType({ description: 'Usage and cost of finished lines, summed over the dimensions not grouped by (those fields are null)' })
export class UsageReportRow {
  @Field(() => String, { nullable: true }) accountId: string | null;
  @Field(() => String, { nullable: true }) model: string | null;
  @Field(() => String, { nullable: true, description: 'UTC day the lines finished, YYYY-MM-DD' }) day: string | null;
  @Field(() => String, { nullable: true }) providerId: string | null;
  @Field(() => Float, { description: 'Finished lines (completed or failed upstream; not lines a cancel, expiry or spend limit stopped)' }) requests: number;
  @Field(() => Float) promptTokens: number;
  @Field(() => Float) completionTokens: number;
  @Field(() => Float) cachedTokens: number;
  @Field(() => MoneyModel) cost: MoneyModel;
}

@ObjectType()
export class UsageReport {
  @Field() from: string;
  @Field() to: string;
  @Field(() => [UsageDimension]) groupBy: UsageDimension[];
  @Field(() => [UsageReportRow]) rows: UsageReportRow[];
  @Field(() => MoneyModel, { description: 'The cost of every row in the range, those past a truncated list included' }) totalCost: MoneyModel;
  @Field({ description: 'Rows are capped at 10,000; true when more matched' }) truncated: boolean;
}
