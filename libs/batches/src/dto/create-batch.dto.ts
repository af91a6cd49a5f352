import { BATCH_ENDPOINTS, BatchEndpoint } from '@app/core';
import type { ExpiresAfter } from '@app/files';
import { Allow, IsDefined, IsIn, IsNotEmpty, IsOptional, IsString, MaxLength, MinLength, registerDecorator, ValidationArguments } from 'class-validator';

export const SUPPORTED_WINDOWS = ['24h'] as const;

/** OpenAI's metadata rule: at most 16 string pairs, keys up to 64 characters, values up to 512. */
function IsBatchMetadata() {
  return (object: object, propertyName: string) =>
    registerDecorator({
      name: 'isBatchMetadata',
      target: object.constructor,
      propertyName,
      validator: {
        validate(value: unknown) {
          if (value === null) return true;
          if (typeof value !== 'object' || Array.isArray(value)) return false;
          const entries = Object.entries(value as Record<string, unknown>);
          return entries.length <= 16 && entries.every(([k, v]) => k.length > 0 && k.length <= 64 && typeof v === 'string' && v.length <= 512);
        },
        defaultMessage: (args?: ValidationArguments) =>
          `${args?.property} must be an object of at most 16 string pairs, keys up to 64 characters and values up to 512`,
      },
    });
}

export class CreateBatchDto {
  @IsDefined({ message: 'input_file_id is required' }) @IsString() @MinLength(1) @MaxLength(64) input_file_id: string;
  @IsOptional() @IsIn(BATCH_ENDPOINTS, { message: `endpoint must be one of: ${BATCH_ENDPOINTS.join(', ')}` }) endpoint?: BatchEndpoint;
  @IsOptional()
  @IsIn(SUPPORTED_WINDOWS, { message: `completion_window must be one of: ${SUPPORTED_WINDOWS.join(', ')}` })
  completion_window?: string;
  @IsOptional() @IsBatchMetadata() metadata?: Record<string, string> | null;
  /** For the output and error files; checked by the service with the same rule as a file's `expires_after`. */
  @Allow() output_expires_after?: ExpiresAfter | null;
  /** null or absent: the account's default webhook. An empty string is not a way to say "none". */
  @IsOptional()
  @IsString()
  @IsNotEmpty({ message: "callback_url must not be empty: send an absolute https URL, or omit it (or send null) for the account's default webhook" })
  @MaxLength(2048)
  callback_url?: string | null;
}
