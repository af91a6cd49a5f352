import { plainToInstance, Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, MinLength, validateSync } from 'class-validator';
import { resolve } from 'node:path';

export type Role = 'api' | 'worker' | 'all';

const toInt = ({ value }: { value: unknown }) => (value === undefined || value === '' ? undefined : Number(value));
const toBool = ({ value }: { value: unknown }) => {
  if (value === undefined || value === '') return undefined;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return value;
};

/** The environment as the gateway reads it: every variable, validated once at boot. */
class EnvironmentVariables {
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) @Max(65535) PORT?: number;
  @IsOptional() @IsString() @MinLength(1) DATA_DIR?: string;
  @IsOptional() @IsString() @MinLength(1) CONSOLE_DIR?: string;
  @IsOptional() @Matches(/^postgres(ql)?:\/\//, { message: 'must be a postgres:// URL' }) DATABASE_URL?: string;
  @IsOptional() @Matches(/^rediss?:\/\//, { message: 'must be a redis:// URL' }) REDIS_URL?: string;
  @IsOptional() @Matches(/^[A-Za-z0-9:_-]+$/, { message: 'must be letters, digits, ":", "_" or "-"' }) REDIS_PREFIX?: string;
  @IsOptional() @IsIn(['api', 'worker', 'all']) ROLE?: Role;
  @IsOptional() @IsString() @MinLength(16, { message: 'must be at least 16 characters' }) ADMIN_TOKEN?: string;
  @IsOptional() @Matches(/^sk-[A-Za-z0-9_-]{16,}$/, { message: 'must look like sk-… with at least 16 characters after sk-' }) BOOTSTRAP_API_KEY?: string;
  @IsOptional() @IsString() @MinLength(1) ROUTING_FILE?: string;
  @IsOptional() @Transform(toBool) @IsBoolean({ message: 'must be true or false' }) WEBHOOK_ALLOW_HTTP?: boolean;
  @IsOptional() @Transform(toBool) @IsBoolean({ message: 'must be true or false' }) WEBHOOK_ALLOW_PRIVATE?: boolean;
  @IsOptional() @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) LOG_LEVEL?: string;
  @IsOptional() @IsIn(['development', 'production', 'test']) NODE_ENV?: string;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) MAX_FILE_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) MAX_FILE_LINES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(64) MAX_LINE_BYTES?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) UPSTREAM_TIMEOUT_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1) @Max(20) UPSTREAM_MAX_ATTEMPTS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) UPSTREAM_RETRY_BASE_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(1024) UPSTREAM_MAX_RESPONSE_BYTES?: number;
  @IsOptional() @Matches(/^[A-Z][A-Z0-9]*_$/, { message: 'must be upper-case letters and digits ending with "_", e.g. UPSTREAM_' }) API_KEY_ENV_PREFIX?: string;
  @IsOptional() @Transform(toInt) @IsInt() @Min(10) SWEEP_INTERVAL_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(10) FILE_SWEEP_INTERVAL_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(0) PROVIDER_BATCH_CANCEL_GRACE_MS?: number;
  @IsOptional() @Transform(toInt) @IsInt() @Min(100) WEBHOOK_TIMEOUT_MS?: number;
  @IsOptional() @Matches(/^\d+(,\d+)*$/, { message: 'must be a comma-separated list of milliseconds' }) WEBHOOK_RETRY_DELAYS_MS?: string;
  @IsOptional() @Matches(/^[A-Z]{3}$/, { message: 'must be a three-letter currency code, e.g. USD' }) COST_CURRENCY?: string;
}

/** 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 6 h, 8 h: eleven attempts over about 22 hours. */
const DEFAULT_WEBHOOK_RETRY_DELAYS_MS = [5, 30, 120, 600, 1800, 3600, 7200, 14400, 21600, 28800].map((s) => s * 1000).join(',');

export interface AppConfig {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  dataDir: string;
  /** The operator console's built files (index.html and assets/), served at /admin. */
  consoleDir: string;
  databaseUrl?: string;
  redisUrl?: string;
  redisPrefix: string;
  role: Role;
  adminToken?: string;
  bootstrapApiKey?: string;
  routingFile?: string;
  webhookAllowHttp: boolean;
  webhookAllowPrivate: boolean;
  /** Per-attempt timeout, and the delays before each retry (their count is the number of retries). */
  webhookTimeoutMs: number;
  webhookRetryDelaysMs: number[];
  logLevel: string;
  limits: { maxFileBytes: number; maxLines: number; maxLineBytes: number };
  /** How often worker processes delete files past their `expires_at`. */
  fileSweepIntervalMs: number;
  /** The prefix every provider's `api_key_env` must have: no other variable can be sent upstream as a key. */
  apiKeyEnvPrefix: string;
  /** The currency of SKU prices, costs and spend limits (one for the whole gateway). */
  costCurrency: string;
  /** Reads a provider's secret (its api_key_env) from the same environment; only names with `apiKeyEnvPrefix`. */
  readSecret(name: string): string | undefined;
  execution: {
    upstreamTimeoutMs: number;
    upstreamMaxAttempts: number;
    upstreamRetryBaseMs: number;
    /** Largest upstream answer read; a larger one ends its line with upstream_response_too_large. */
    upstreamMaxResponseBytes: number;
    sweepIntervalMs: number;
    /** How long a cancelled or expiring batch waits for its provider batches to end before its remaining lines are closed. */
    providerBatchCancelGraceMs: number;
  };
}

export class InvalidConfigError extends Error {}

/**
 * Reads and validates the environment once. The only place in the code base that reads
 * process.env (through its argument); a bad value stops the boot with one line naming it.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const raw = Object.fromEntries(Object.keys(new EnvironmentVariablesKeys()).map((key) => [key, env[key] === '' ? undefined : env[key]]));
  const vars = plainToInstance(EnvironmentVariables, raw);
  const errors = validateSync(vars, { forbidUnknownValues: false });
  if (errors.length > 0) {
    const first = errors[0];
    const reason = Object.values(first.constraints ?? {})[0] ?? 'is invalid';
    throw new InvalidConfigError(
      `Invalid environment variable ${first.property}=${JSON.stringify(raw[first.property])}: ${reason.replace(`${first.property} `, '')}`,
    );
  }
  const role = vars.ROLE ?? 'all';
  if (role !== 'all' && (!vars.REDIS_URL || !vars.DATABASE_URL)) {
    throw new InvalidConfigError(
      `Invalid environment variable ROLE=${JSON.stringify(role)}: separate api and worker processes need DATABASE_URL and REDIS_URL`,
    );
  }
  const apiKeyEnvPrefix = vars.API_KEY_ENV_PREFIX ?? 'UPSTREAM_';
  return {
    nodeEnv: (vars.NODE_ENV as AppConfig['nodeEnv']) ?? 'development',
    port: vars.PORT ?? 3000,
    dataDir: resolve(vars.DATA_DIR ?? './data'),
    consoleDir: resolve(vars.CONSOLE_DIR ?? './dist/console'),
    databaseUrl: vars.DATABASE_URL,
    redisUrl: vars.REDIS_URL,
    redisPrefix: vars.REDIS_PREFIX ?? 'batch-gateway',
    role,
    adminToken: vars.ADMIN_TOKEN,
    bootstrapApiKey: vars.BOOTSTRAP_API_KEY,
    routingFile: vars.ROUTING_FILE,
    webhookAllowHttp: vars.WEBHOOK_ALLOW_HTTP ?? false,
    webhookAllowPrivate: vars.WEBHOOK_ALLOW_PRIVATE ?? false,
    webhookTimeoutMs: vars.WEBHOOK_TIMEOUT_MS ?? 10_000,
    webhookRetryDelaysMs: (vars.WEBHOOK_RETRY_DELAYS_MS ?? DEFAULT_WEBHOOK_RETRY_DELAYS_MS).split(',').map(Number),
    logLevel: vars.LOG_LEVEL ?? 'info',
    apiKeyEnvPrefix,
    costCurrency: vars.COST_CURRENCY ?? 'USD',
    readSecret: (name: string) => (name.startsWith(apiKeyEnvPrefix) ? env[name] : undefined),
    limits: {
      maxFileBytes: vars.MAX_FILE_BYTES ?? 200 * 1024 * 1024,
      maxLines: vars.MAX_FILE_LINES ?? 50_000,
      maxLineBytes: vars.MAX_LINE_BYTES ?? 1024 * 1024,
    },
    fileSweepIntervalMs: vars.FILE_SWEEP_INTERVAL_MS ?? 60_000,
    execution: {
      upstreamTimeoutMs: vars.UPSTREAM_TIMEOUT_MS ?? 120_000,
      upstreamMaxAttempts: vars.UPSTREAM_MAX_ATTEMPTS ?? 5,
      upstreamRetryBaseMs: vars.UPSTREAM_RETRY_BASE_MS ?? 500,
      upstreamMaxResponseBytes: vars.UPSTREAM_MAX_RESPONSE_BYTES ?? 10 * 1024 * 1024,
      sweepIntervalMs: vars.SWEEP_INTERVAL_MS ?? 30_000,
      providerBatchCancelGraceMs: vars.PROVIDER_BATCH_CANCEL_GRACE_MS ?? 600_000,
    },
  };
}

/** Lists the variable names so that loadConfig copies only those out of the environment. */
class EnvironmentVariablesKeys {
  PORT = 0;
  DATA_DIR = 0;
  CONSOLE_DIR = 0;
  DATABASE_URL = 0;
  REDIS_URL = 0;
  REDIS_PREFIX = 0;
  ROLE = 0;
  ADMIN_TOKEN = 0;
  BOOTSTRAP_API_KEY = 0;
  ROUTING_FILE = 0;
  WEBHOOK_ALLOW_HTTP = 0;
  WEBHOOK_ALLOW_PRIVATE = 0;
  LOG_LEVEL = 0;
  NODE_ENV = 0;
  MAX_FILE_BYTES = 0;
  MAX_FILE_LINES = 0;
  MAX_LINE_BYTES = 0;
  UPSTREAM_TIMEOUT_MS = 0;
  UPSTREAM_MAX_ATTEMPTS = 0;
  UPSTREAM_RETRY_BASE_MS = 0;
  UPSTREAM_MAX_RESPONSE_BYTES = 0;
  API_KEY_ENV_PREFIX = 0;
  SWEEP_INTERVAL_MS = 0;
  FILE_SWEEP_INTERVAL_MS = 0;
  PROVIDER_BATCH_CANCEL_GRACE_MS = 0;
  WEBHOOK_TIMEOUT_MS = 0;
  WEBHOOK_RETRY_DELAYS_MS = 0;
  COST_CURRENCY = 0;
}

/** Injection token for the validated configuration object. */
export const APP_CONFIG = Symbol('APP_CONFIG');
