import { ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { ApiError } from './errors/api-error';

const MAX_DEPTH = 32;

/**
 * Refuses text with NUL characters in any route or resolver argument (path, query, body, GraphQL args)
 * before it can reach the database: PostgreSQL cannot store NUL in text and fails the whole statement.
 * One rule for every input, so no id, cursor or name can turn a NUL into a 500.
 */
@Injectable()
export class NulPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const where = findNul(value, metadata.data ?? '', 0);
    if (where !== null) throw new ApiError('invalid_request_error', `${where || metadata.type} must not contain NUL characters`, where || null);
    return value;
  }
}

/** The path of the first string (key or value) that holds a NUL, or null when there is none. */
function findNul(value: unknown, path: string, depth: number): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return null;
  for (const [key, child] of Object.entries(value)) {
    const here = Array.isArray(value) ? `${path}[${key}]` : path ? `${path}.${key}` : key;
    if (key.includes('\u0000')) return here;
    const found = findNul(child, here, depth + 1);
    if (found !== null) return found;
  }
  return null;
}
