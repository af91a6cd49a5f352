import { ArgumentMetadata, ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError } from './errors/api-error';

/**
 * The first problem, in the order the DTO's decorators are written (type first, then bounds: `@IsString()
 * @MaxLength(64)`). TypeScript applies a property's decorators bottom-up, so class-validator checks them,
 * and lists what failed, in reverse: the last failed constraint is the first one written. A missing or
 * mistyped value then reports "must be a string", not the length check that also failed on it. The one
 * exception is `@IsDefined()`, which class-validator checks before any other rule wherever it is written.
 */
function firstProblem(errors: ValidationError[], parent = ''): { param: string; message: string } {
  const error = errors[0];
  const param = parent ? `${parent}.${error.property}` : error.property;
  if (error.constraints) return { param, message: error.constraints.isDefined ?? Object.values(error.constraints).at(-1)! };
  return firstProblem(error.children ?? [], param);
}

/** An object literal or JSON object (of any realm), not an array or a class instance. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/**
 * Free-form maps (a DTO property holding a plain object, such as batch metadata) are validated and kept
 * exactly as sent. Before class-transformer runs, Nest deletes every `__proto__`, `constructor` and
 * `prototype` key from the payload, in place, and class-transformer then rebuilds each such map without
 * any key that names an Object.prototype member (`valueOf`, `toString`…): those pairs vanished, unvalidated.
 * Both steps stay (class-transformer throws on an own `constructor` key of an untyped object), but the
 * maps are copied first and put back on the DTO, which is then validated again as it will be used.
 *
 * The copies are made by JSON.parse, as the payload was: their keys are own data properties, so a
 * `__proto__` key is an ordinary key, read with Object.entries and written with JSON.stringify, and no
 * prototype is ever touched.
 */
class GatewayValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const sent = metadata.metatype && this.toValidate(metadata) && isPlainObject(value) ? freeFormMaps(value) : [];
    const dto: unknown = await super.transform(value, metadata);
    if (sent.length === 0 || typeof dto !== 'object' || dto === null) return dto;
    let restored = false;
    for (const [key, map] of sent) {
      // Only a property the DTO kept (never `__proto__` or `constructor`: class-transformer drops those), and
      // not one class-transformer built as a class (a nested DTO).
      if (Object.hasOwn(dto, key) && isPlainObject((dto as Record<string, unknown>)[key])) {
        (dto as Record<string, unknown>)[key] = map;
        restored = true;
      }
    }
    if (!restored) return dto;
    const errors = await this.validate(dto, { ...this.validatorOptions, validationError: { target: false, value: false } });
    if (errors.length > 0) throw await this.exceptionFactory(errors);
    return dto;
  }
}

/** Copies of the payload's top-level plain-object values, taken before anything strips their keys. */
function freeFormMaps(value: Record<string, unknown>): [string, Record<string, unknown>][] {
  return Object.entries(value)
    .filter((entry): entry is [string, Record<string, unknown>] => isPlainObject(entry[1]))
    .map(([key, map]) => [key, JSON.parse(JSON.stringify(map)) as Record<string, unknown>]);
}

/** DTO validation for every route; the first problem becomes one `invalid_request_error` naming its parameter. */
export function createValidationPipe(): ValidationPipe {
  return new GatewayValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
    exceptionFactory: (errors) => {
      const { param, message } = firstProblem(errors);
      return new ApiError('invalid_request_error', message, param);
    },
  });
}
