import { ApiError, codeForStatus } from '@app/core';
import { HttpException, Logger } from '@nestjs/common';
import type { GraphQLFormattedError } from 'graphql';

const logger = new Logger('AdminGraphQL');

/** GraphQL errors carry the same codes as REST: `extensions.code` from the one catalogue, and the HTTP status it stands for. */
export function formatAdminError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = (error as { originalError?: unknown })?.originalError;
  if (original instanceof ApiError) {
    return { message: original.message, path: formatted.path, extensions: { code: original.code, status: original.status, param: original.param } };
  }
  if (original instanceof HttpException) {
    const status = original.getStatus();
    return { message: original.message, path: formatted.path, extensions: { code: codeForStatus(status), status } };
  }
  if (original && !(original instanceof Error && original.name === 'GraphQLError')) {
    logger.error({ err: original }, 'Unhandled error in the admin API');
    return { message: 'Internal server error', path: formatted.path, extensions: { code: 'internal_error', status: 500 } };
  }
  return formatted;
}
