import type { ValueTransformer } from 'typeorm';

/** PostgreSQL returns bigint columns as strings; our bigint values (bytes, tokens, ms) fit a JS number. */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};
