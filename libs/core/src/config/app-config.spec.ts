import { resolve } from 'node:path';
import { InvalidConfigError, loadConfig } from './app-config';

describe('loadConfig', () => {
  it('gives the embedded defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, role: 'all', databaseUrl: undefined, redisUrl: undefined, webhookAllowHttp: false, webhookAllowPrivate: false });
    expect(config.limits).toEqual({ maxFileBytes: 200 * 1024 * 1024, maxLines: 50_000, maxLineBytes: 1024 * 1024 });
    expect(config.webhookRetryDelaysMs).toHaveLength(10);
    expect(config.fileSweepIntervalMs).toBe(60_000);
    expect(loadConfig({ FILE_SWEEP_INTERVAL_MS: '250' }).fileSweepIntervalMs).toBe(250);
    expect(config.consoleDir).toBe(resolve('dist/console'));
  });

  it.each([
    [{ PORT: 'abc' }, /^Invalid environment variable PORT="abc"/],
    [{ DATABASE_URL: 'mysql://x' }, /^Invalid environment variable DATABASE_URL="mysql:\/\/x": must be a postgres:\/\/ URL$/],
    [{ ROLE: 'boss' }, /^Invalid environment variable ROLE=/],
    [{ WEBHOOK_ALLOW_HTTP: 'yes' }, /^Invalid environment variable WEBHOOK_ALLOW_HTTP="yes": must be true or false$/],
    [{ ADMIN_TOKEN: 'short' }, /^Invalid environment variable ADMIN_TOKEN=/],
    [{ FILE_SWEEP_INTERVAL_MS: '5' }, /^Invalid environment variable FILE_SWEEP_INTERVAL_MS="5": must not be less than 10$/],
    [{ ROLE: 'worker' }, /ROLE="worker": separate api and worker processes need DATABASE_URL and REDIS_URL/],
  ])('stops on %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(InvalidConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('reads provider secrets only through readSecret, from the same environment', () => {
    const config = loadConfig({ UPSTREAM_VLLM_KEY: 'secret-value' });
    expect(config.readSecret('UPSTREAM_VLLM_KEY')).toBe('secret-value');
    expect(JSON.stringify(config)).not.toContain('secret-value');
  });

  it('reads no variable without the api_key_env prefix as a secret, so none of its own can be sent upstream', () => {
    const env = { ADMIN_TOKEN: 'admin-token-value-123', DATABASE_URL: 'postgres://u:pw@h/db', UPSTREAM_KEY: 'k', OTHER_KEY: 'o' };
    const config = loadConfig(env);
    expect(config.apiKeyEnvPrefix).toBe('UPSTREAM_');
    expect(['ADMIN_TOKEN', 'DATABASE_URL', 'OTHER_KEY'].map((name) => config.readSecret(name))).toEqual([undefined, undefined, undefined]);
    expect(config.readSecret('UPSTREAM_KEY')).toBe('k');
    const custom = loadConfig({ ...env, API_KEY_ENV_PREFIX: 'OTHER_' });
    expect([custom.readSecret('OTHER_KEY'), custom.readSecret('UPSTREAM_KEY')]).toEqual(['o', undefined]);
    expect(() => loadConfig({ API_KEY_ENV_PREFIX: '' })).not.toThrow();
    expect(() => loadConfig({ API_KEY_ENV_PREFIX: 'lower_' })).toThrow(/API_KEY_ENV_PREFIX="lower_"/);
    expect(() => loadConfig({ UPSTREAM_MAX_RESPONSE_BYTES: '10' })).toThrow(/UPSTREAM_MAX_RESPONSE_BYTES="10"/);
  });
});
