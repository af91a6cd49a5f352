import { Logger } from '@nestjs/common';
import { mask, TypeOrmLogger } from './typeorm-logger';

describe(TypeOrmLogger.name, () => {
  const sut = new TypeOrmLogger();
  let warn: jest.SpyInstance;
  let debug: jest.SpyInstance;

  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    debug = jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('logs a failed query as one structured warning with the statement and the code, never the parameters', () => {
    const error = Object.assign(new Error('invalid input syntax for type integer: "sk-secret-value"'), {
      code: '22P02',
      detail: 'Failing row contains (sk-secret-value, {"tenant":"data"}).',
    });
    sut.logQueryError(error, 'SELECT * FROM "api_keys" WHERE "key_hash" = $1 AND "n" = $2', ['sk-secret-value', { tenant: 'data' }]);
    expect(warn).toHaveBeenCalledTimes(1);
    const [fields, message] = warn.mock.calls[0];
    expect(message).toBe('Query failed');
    expect(fields).toEqual({
      query: 'SELECT * FROM "api_keys" WHERE "key_hash" = $1 AND "n" = $2',
      code: '22P02',
      error: 'invalid input syntax for type integer: "[parameter]"',
    });
    expect(JSON.stringify(warn.mock.calls)).not.toMatch(/sk-secret-value|tenant|Failing row/);
  });

  it('clips a huge statement and takes a plain-text error', () => {
    sut.logQueryError('connection lost', `INSERT INTO t VALUES ${'($1),'.repeat(5000)}`, []);
    const [fields] = warn.mock.calls[0];
    expect(fields.query.length).toBeLessThan(2100);
    expect(fields).toMatchObject({ code: undefined, error: 'connection lost', query: expect.stringMatching(/… \(\d+ characters\)$/) });
  });

  it('logs nothing per query, and schema steps at debug', () => {
    sut.logQuery();
    sut.logSchemaBuild('No migrations are pending');
    expect(warn).not.toHaveBeenCalled();
    expect(debug).toHaveBeenCalledWith('No migrations are pending');
  });

  it('masks longer text parameters only, the longest first', () => {
    expect(mask('value "abcdef" and "abc" and id 7', ['abc', 'abcdef', 7, 'x'])).toBe('value "[parameter]" and "[parameter]" and id 7');
  });
});
