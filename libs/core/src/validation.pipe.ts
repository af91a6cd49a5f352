import { ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError } from './errors/api-error';

function firstProblem(errors: ValidationError[], parent = ''): { param: string; message: string } {
  const error = errors[0];
  const param = parent ? `${parent}.${error.property}` : error.property;
  if (error.constraints) return { param, message: Object.values(error.constraints)[0] };
  return firstProblem(error.children ?? [], param);
}

/** DTO validation for every route; the first problem becomes one `invalid_request_error` naming its parameter. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
    exceptionFactory: (errors) => {
      const { param, message } = firstProblem(errors);
      return new ApiError('invalid_request_error', message, param);
    },
  });
}
