import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsInt, IsObject, IsOptional, IsString, Max, MaxLength, Min, MinLength, registerDecorator, ValidateNested } from 'class-validator';
import { ApiError } from './errors/api-error';
import { createValidationPipe } from './validation.pipe';

/** Every value a string, checked over the map's own keys as sent. */
function IsStringMap() {
  return (object: object, propertyName: string) =>
    registerDecorator({
      name: 'isStringMap',
      target: object.constructor,
      propertyName,
      validator: { validate: (value: object) => Object.values(value).every((v) => typeof v === 'string') },
      options: { message: `${propertyName} values must be strings` },
    });
}

class Inner {
  @IsString() @MaxLength(3) name: string;
}

class Body {
  @IsString() @MinLength(1) @MaxLength(8) id: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
  @IsOptional() @ValidateNested() @Type(() => Inner) inner?: Inner;
  @IsOptional() @IsObject() @IsStringMap() tags?: Record<string, string>;
}

const sut = createValidationPipe();

async function problem(value: unknown): Promise<{ param: string | null; message: string }> {
  const error = await sut.transform(value, { type: 'body', metatype: Body }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return { param: (error as ApiError).param, message: (error as ApiError).message };
}

describe('createValidationPipe', () => {
  it.each([
    [{}, 'id', 'id must be a string'],
    [{ id: 5 }, 'id', 'id must be a string'],
    [{ id: '' }, 'id', 'id must be longer than or equal to 1 characters'],
    [{ id: 'x'.repeat(9) }, 'id', 'id must be shorter than or equal to 8 characters'],
    [{ id: 'a', limit: 'abc' }, 'limit', 'limit must be an integer number'],
    [{ id: 'a', limit: '1.5' }, 'limit', 'limit must be an integer number'],
    [{ id: 'a', limit: '0' }, 'limit', 'limit must not be less than 1'],
    [{ id: 'a', limit: '101' }, 'limit', 'limit must not be greater than 100'],
    [{ id: 'a', inner: { name: 7 } }, 'inner.name', 'name must be a string'],
    [{ id: 'a', extra: 1 }, 'extra', 'property extra should not exist'],
  ])('reports the first rule as written that %j breaks', async (value, param, message) => {
    expect(await problem(value)).toEqual({ param, message });
  });

  it('leaves keys named after Object.prototype members in a map kept as sent, and pollutes nothing', async () => {
    const body = JSON.parse('{"id":"a","tags":{"__proto__":"p","constructor":"c","valueOf":"v","prototype":"t"}}');
    const dto = (await sut.transform(body, { type: 'body', metatype: Body })) as Body;
    expect(dto).toBeInstanceOf(Body);
    expect(Object.entries(dto.tags!)).toEqual([
      ['__proto__', 'p'],
      ['constructor', 'c'],
      ['valueOf', 'v'],
      ['prototype', 't'],
    ]);
    expect(Object.getPrototypeOf(dto.tags)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).p).toBeUndefined();
  });

  it.each(['__proto__', 'constructor', 'valueOf', 'toString', 'hasOwnProperty', 'prototype'])('validates the value of a %s key like any other', async (key) => {
    const body = JSON.parse(`{"id":"a","tags":{"ok":"fine",${JSON.stringify(key)}:{"polluted":"yes"}}}`);
    expect(await problem(body)).toEqual({ param: 'tags', message: 'tags values must be strings' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('leaves a nested DTO built by class-transformer as it built it', async () => {
    const dto = (await sut.transform({ id: 'a', inner: { name: 'abc' } }, { type: 'body', metatype: Body })) as Body;
    expect(dto.inner).toBeInstanceOf(Inner);
  });

  it('never lets a top-level __proto__ or constructor reach the DTO or Object.prototype', async () => {
    const body = JSON.parse('{"id":"a","__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}');
    const dto = (await sut.transform(body, { type: 'body', metatype: Body })) as Body;
    expect(Object.getPrototypeOf(dto)).toBe(Body.prototype);
    expect(dto.constructor).toBe(Body);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
