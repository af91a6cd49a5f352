import { ApiError, APP_CONFIG, AppConfig, BATCH_ENDPOINTS, InvalidConfigError } from '@app/core';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { RoutingFile } from './dto/routing.inputs';
import { RoutingService } from './routing.service';

/** With no ROUTING_FILE: one built-in mock provider serving `batch-test-model`, so the quickstart runs as is. */
export const DEFAULT_ROUTING: RoutingFile = {
  providers: [{ id: 'mock', kind: 'mock', max_concurrency: 64 }],
  skus: [
    { id: 'batch-test-model@mock', model: 'batch-test-model', provider: 'mock', upstream_model: 'mock-echo-1', priority: 0, endpoints: [...BATCH_ENDPOINTS] },
  ],
};

export class InvalidRoutingFileError extends InvalidConfigError {}

/** Reads and validates a routing file (YAML or JSON; YAML is a superset, so one parser serves both). */
export function readRoutingFile(path: string): RoutingFile {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InvalidRoutingFileError(`ROUTING_FILE ${path} cannot be read: ${(err as Error).message}`);
  }
  const file = plainToInstance(RoutingFile, raw ?? {});
  const errors = validateSync(file, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length > 0) {
    const describe = (e: (typeof errors)[number], path: string): string => {
      const here = path ? `${path}.${e.property}` : e.property;
      if (e.constraints) return `${here}: ${Object.values(e.constraints)[0]}`;
      return describe(e.children![0], here);
    };
    throw new InvalidRoutingFileError(`ROUTING_FILE ${path} is invalid at ${describe(errors[0], '')}`);
  }
  return file;
}

/** Upserts the routing seed at boot (API processes only); routing then lives in the database. */
@Injectable()
export class RoutingSeeder implements OnApplicationBootstrap {
  private readonly logger = new Logger(RoutingSeeder.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly routing: RoutingService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.role === 'worker') return;
    const seed = this.config.routingFile ? readRoutingFile(this.config.routingFile) : DEFAULT_ROUTING;
    try {
      for (const provider of seed.providers ?? []) await this.routing.upsertProvider(provider);
      for (const sku of seed.skus ?? []) await this.routing.upsertSku(sku);
    } catch (err) {
      if (err instanceof ApiError) throw new InvalidRoutingFileError(`ROUTING_FILE ${this.config.routingFile} is invalid: ${err.message}`);
      throw err;
    }
    this.logger.log(
      { providers: seed.providers?.length ?? 0, skus: seed.skus?.length ?? 0, source: this.config.routingFile ?? 'built-in mock' },
      'Routing seeded',
    );
  }
}
