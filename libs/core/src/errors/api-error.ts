import { ERROR_CATALOGUE, ErrorCode } from './error-codes';

/** The one error type services throw: a catalogued code, a message for humans, and the offending parameter. */
export class ApiError extends Error {
  readonly status: number;
  readonly type: string;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.status = ERROR_CATALOGUE[code].status;
    this.type = ERROR_CATALOGUE[code].type;
  }

  static notFound(kind: string, id: string, param: string | null = null): ApiError {
    return new ApiError('not_found', `No such ${kind}: '${id}'`, param);
  }
}
