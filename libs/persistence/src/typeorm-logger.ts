import { Logger } from '@nestjs/common';
import type { Logger as OrmLogger } from 'typeorm';

/** Enough of a statement to recognise it; a bulk INSERT can run to megabytes of placeholders. */
const MAX_QUERY_CHARS = 2000;

/**
 * TypeORM's log lines through the application's logger (pino, one JSON object a line), never with the
 * statement's parameters: they hold tenants' data and keys' hashes. TypeORM's own console loggers print
 * plain text with every parameter.
 *
 * A failed statement is a warning here, with the statement, the driver's error code and a message with
 * any parameter value masked (PostgreSQL quotes the offending value in some messages, e.g. an invalid
 * integer). The error itself goes on to the caller, which reports it (an unhandled one as an error with
 * the request) or handles it. Statements themselves are not logged; migrations and schema steps at debug.
 */
export class TypeOrmLogger implements OrmLogger {
  private readonly logger = new Logger('TypeORM');

  logQuery(): void {}

  logQueryError(error: string | Error, query: string, parameters?: unknown[]): void {
    const { message, code } = typeof error === 'string' ? { message: error, code: undefined } : (error as Error & { code?: unknown });
    this.logger.warn({ query: clip(query), code, error: mask(String(message), parameters) }, 'Query failed');
  }

  logQuerySlow(time: number, query: string): void {
    this.logger.warn({ query: clip(query), durationMs: time }, 'Slow query');
  }

  logSchemaBuild(message: string): void {
    this.logger.debug(message);
  }

  logMigration(message: string): void {
    this.logger.log(message);
  }

  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.logger.warn(String(message));
    else this.logger.debug(String(message));
  }
}

function clip(query: string): string {
  return query.length > MAX_QUERY_CHARS ? `${query.slice(0, MAX_QUERY_CHARS)}… (${query.length} characters)` : query;
}

/** The message with every text parameter of three or more characters replaced by `[parameter]`. */
export function mask(message: string, parameters: unknown[] = []): string {
  const values = parameters
    .map((p) => (typeof p === 'string' ? p : typeof p === 'object' && p !== null && !Buffer.isBuffer(p) ? safeJson(p) : null))
    .filter((p): p is string => p !== null && p.length >= 3)
    .sort((a, b) => b.length - a.length);
  return values.reduce((text, value) => text.split(value).join('[parameter]'), message);
}

function safeJson(value: object): string | null {
  try {
    return JSON.stringify(value);
  } catch {
    return null;
  }
}
