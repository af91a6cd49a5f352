import { ApiError } from '@app/core';
import { DEFAULT_EXPIRES_AFTER_SECONDS, expiresAfterSeconds } from './retention';

function problem(value: unknown): { param: string | null; message: string } {
  try {
    expiresAfterSeconds(value, 'expires_after');
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('invalid_request_error');
    return { param: (err as ApiError).param, message: (err as ApiError).message };
  }
  throw new Error(`${JSON.stringify(value)} was accepted`);
}

describe(expiresAfterSeconds.name, () => {
  it('gives 30 days when the parameter is absent or null', () => {
    expect(DEFAULT_EXPIRES_AFTER_SECONDS).toBe(30 * 86_400);
    expect(expiresAfterSeconds(undefined, 'expires_after')).toBe(DEFAULT_EXPIRES_AFTER_SECONDS);
    expect(expiresAfterSeconds(null, 'expires_after')).toBe(DEFAULT_EXPIRES_AFTER_SECONDS);
  });

  it.each([
    [{ anchor: 'created_at', seconds: 3600 }, 3600],
    [{ anchor: 'created_at', seconds: 2_592_000 }, 2_592_000],
    [{ anchor: 'created_at', seconds: '7200' }, 7200],
    [Object.assign(Object.create(null), { anchor: 'created_at', seconds: '86400' }), 86_400],
  ])('reads %j as %d seconds (multipart text and multer’s prototype-less objects included)', (value, seconds) => {
    expect(expiresAfterSeconds(value, 'expires_after')).toBe(seconds);
  });

  it.each([
    [{ anchor: 'created_at', seconds: 3599 }, 'expires_after.seconds'],
    [{ anchor: 'created_at', seconds: 2_592_001 }, 'expires_after.seconds'],
    [{ anchor: 'created_at', seconds: 7200.5 }, 'expires_after.seconds'],
    [{ anchor: 'created_at', seconds: '7200.0' }, 'expires_after.seconds'],
    [{ anchor: 'created_at', seconds: ' 7200' }, 'expires_after.seconds'],
    [{ anchor: 'created_at', seconds: '99999999999999999999' }, 'expires_after.seconds'],
    [{ anchor: 'created_at', seconds: ['7200', '7200'] }, 'expires_after.seconds'],
    [{ anchor: 'created_at', seconds: true }, 'expires_after.seconds'],
    [{ anchor: 'created_at' }, 'expires_after.seconds'],
    [{ anchor: 'CREATED_AT', seconds: 7200 }, 'expires_after.anchor'],
    [{ seconds: 7200 }, 'expires_after.anchor'],
    [{ anchor: 'created_at', seconds: 7200, extra: 1 }, 'expires_after'],
    ['7200', 'expires_after'],
    [7200, 'expires_after'],
    [[{ anchor: 'created_at', seconds: 7200 }], 'expires_after'],
  ])('refuses %j naming %s', (value, param) => {
    const { param: named, message } = problem(value);
    expect(named).toBe(param);
    expect(message).toContain(param);
  });
});
