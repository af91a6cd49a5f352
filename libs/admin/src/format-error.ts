import { ApiError, codeForStatus } from '@app/core';
import { HttpException, Logger } from '@nestjs/common';
import type { GraphQLFormattedError } from 'graphql';

const logger = new Logger('AdminGraphQL');

/** graphql-js's closing suggestion of other names from the schema: ` Did you mean "status"?`. */
const SUGGESTION = / ?Did you mean .+\?$/;

/**
 * The offending argument or input field as the schema names it (camelCase), so a client can show the
 * message next to its field: services name parameters as REST and the routing file do (`base_url`).
 */
function schemaParam(param: string | null): string | null {
  return param?.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase()) ?? null;
}

/**
 * GraphQL errors carry the same codes as REST: `extensions.code` from the one catalogue, the HTTP status
 * it stands for, and `extensions.param`, the argument or input field at fault (`baseUrl`, `filter.status`).
 */
export function formatAdminError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = (error as { originalError?: unknown })?.originalError;
  if (original instanceof ApiError) {
    return {
      message: original.message,
      path: formatted.path,
      extensions: { code: original.code, status: original.status, param: schemaParam(original.param) },
    };
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

/**
 * `formatAdminError`, and with `hideSchemaDetails` no suggestion of field, argument or type names in
 * any message. Apollo's `hideSchemaDetailsFromClientErrors` strips them from validation errors only;
 * variables that do not coerce ("Field "statsu" is not defined by type "BatchFilter". Did you mean
 * "status"?") come from execution and pass here.
 */
export function adminErrorFormatter(hideSchemaDetails: boolean): (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError {
  if (!hideSchemaDetails) return formatAdminError;
  return (formatted, error) => {
    const answer = formatAdminError(formatted, error);
    return { ...answer, message: answer.message.replace(SUGGESTION, '') };
  };
}
