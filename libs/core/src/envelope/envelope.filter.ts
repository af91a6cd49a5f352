import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiError } from '../errors/api-error';
import { codeForStatus, ErrorCode } from '../errors/error-codes';
import { requestLogFields } from '../http/request-telemetry';
import { envelopeFor, errorBody } from './envelope';

/** Turns anything thrown during a REST request into the error envelope of its prefix. */
@Catch()
export class EnvelopeExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(EnvelopeExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): unknown {
    // GraphQL and other transports map errors themselves (see the admin module's formatError).
    if (host.getType() !== 'http') return exception;
    const req = host.switchToHttp().getRequest<Request>();
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (req.destroyed && !req.complete) {
      // The client went away mid-request (an aborted upload): nobody to answer, and not a server error.
      this.logger.debug({ req: requestLogFields(req) }, 'Client closed the request before it was read');
      return;
    }
    const envelope = envelopeFor(req.path);
    if (envelope === 'none' && exception instanceof HttpException) {
      // Outside the API prefixes (health checks), a framework error keeps its own body.
      res.status(exception.getStatus()).json(exception.getResponse());
      return;
    }
    const error = this.toApiError(exception, req);
    res.status(error.status).json(errorBody(envelope, error));
  }

  private toApiError(exception: unknown, req: Request): ApiError {
    if (exception instanceof ApiError) return exception;
    const refused = bodyParserError(exception);
    if (refused) return refused;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      let message = exception.message;
      if (typeof response === 'object' && response !== null && 'message' in response) {
        const m = response.message;
        message = Array.isArray(m) ? m.join('; ') : String(m);
      }
      if (status === 404 && message.startsWith('Cannot ')) message = `Unknown route: ${req.method} ${req.path}`;
      if (status === 413) message = 'The request body is larger than the configured limit';
      return new ApiError(codeForStatus(status), message);
    }
    this.logger.error({ err: exception, req: requestLogFields(req) }, 'Unhandled error');
    return new ApiError('internal_error', 'The server had an error while processing your request');
  }
}

/** What body-parser (through raw-body and http-errors) says when it refuses a request body. */
interface BodyParserError {
  type?: string;
  status: number;
  expose: boolean;
  limit?: number;
  charset?: string;
  encoding?: string;
}

const BODY_PARSER_ERRORS: Record<string, { code: ErrorCode; message: (e: BodyParserError) => string }> = {
  'entity.too.large': { code: 'request_too_large', message: (e) => `The request body is larger than the limit of ${e.limit} bytes` },
  'charset.unsupported': { code: 'unsupported_media_type', message: (e) => `Unsupported charset "${e.charset}"; send the body as UTF-8` },
  'encoding.unsupported': {
    code: 'unsupported_media_type',
    message: (e) => `Unsupported Content-Encoding "${e.encoding}"; use gzip, deflate, br or identity`,
  },
  'entity.parse.failed': { code: 'invalid_request_error', message: () => 'The request body is not valid JSON' },
};

/**
 * A refused request body as a catalogued client error, never a 500: body-parser's errors are
 * http-errors (an exposable 4xx status), with a `type` for the cases it names, and without one when the
 * body could not be decoded (a Content-Encoding whose data is corrupt). Null for anything else.
 */
function bodyParserError(exception: unknown): ApiError | null {
  const e = exception as Partial<BodyParserError> | null;
  if (typeof e?.status !== 'number' || e.status < 400 || e.status >= 500 || e.expose !== true || exception instanceof HttpException) return null;
  const known = e.type ? BODY_PARSER_ERRORS[e.type] : undefined;
  if (known) return new ApiError(known.code, known.message(e as BodyParserError));
  if (!e.type) return new ApiError(codeForStatus(e.status), 'The request body could not be decoded as its Content-Encoding says');
  return new ApiError(codeForStatus(e.status), (exception as Error).message);
}
