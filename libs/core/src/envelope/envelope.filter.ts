import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiError } from '../errors/api-error';
import { codeForStatus } from '../errors/error-codes';
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
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      let message = exception.message;
      if (typeof response === 'object' && response !== null && 'message' in response) {
        const m = (response as { message: unknown }).message;
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
