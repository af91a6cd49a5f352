import { ApiError, APP_CONFIG, AppConfig, BatchEndpoint, Clock, DEFAULT_BATCH_ENDPOINT } from '@app/core';
import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { PROVIDER_BATCH_DEFAULTS, ProviderInput, SkuInput } from './dto/routing.inputs';
import { ProviderEntity, ProviderKind } from './entities/provider.entity';
import { SkuEntity } from './entities/sku.entity';

export interface Provider {
  id: string;
  kind: ProviderKind;
  baseUrl: string;
  apiKeyEnv: string | null;
  maxConcurrency: number;
  rateLimitPerMinute: number | null;
  timeoutMs: number | null;
  /** Batches run on the provider's own Files + Batches API (see libs/execution/src/provider-batch). */
  batchApi: boolean;
  batchPollIntervalMs: number;
  maxBatchLines: number;
  maxBatchBytes: number;
}

/** How a batch's lines run, fixed by the route locked at create: realtime requests, or the provider's Batch API. */
export const EXECUTION_MODES = ['realtime', 'provider_batch'] as const;
export type ExecutionMode = (typeof EXECUTION_MODES)[number];

export interface Sku {
  id: string;
  model: string;
  providerId: string;
  upstreamModel: string;
  batchCapable: boolean;
  /** The batch endpoints it serves. */
  endpoints: string[];
  active: boolean;
  priority: number;
  weight: number;
  inputPricePerMtok: number | null;
  outputPricePerMtok: number | null;
  /** 0..1 off both prices when the route runs on the provider's Batch API; null: none. */
  batchDiscount: number | null;
}

/** The route a batch locks at create and keeps for its life, with the prices it runs at. */
export interface RouteLock {
  skuId: string;
  providerId: string;
  upstreamModel: string;
  execution: ExecutionMode;
  /** The SKU's prices per million tokens, less its batch discount when `execution` is provider_batch; null: unpriced. */
  inputPricePerMtok: number | null;
  outputPricePerMtok: number | null;
  /** COST_CURRENCY, or null when the SKU has no prices. */
  costCurrency: string | null;
}

@Injectable()
export class RoutingService {
  constructor(
    @InjectRepository(ProviderEntity) private readonly providers: Repository<ProviderEntity>,
    @InjectRepository(SkuEntity) private readonly skus: Repository<SkuEntity>,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Chooses the SKU for a new batch: the highest-priority active batch-capable SKU of the model that
   * serves the endpoint; among equal priorities, a weighted random pick.
   */
  async chooseRoute(model: string, endpoint: BatchEndpoint = DEFAULT_BATCH_ENDPOINT, random: () => number = Math.random): Promise<RouteLock> {
    const capable = (await this.skus.find({ where: { model, batchCapable: true } })).filter((s) => skuEndpoints(s).includes(endpoint));
    if (capable.length === 0) {
      const onEndpoint = endpoint === DEFAULT_BATCH_ENDPOINT ? '' : ` on ${endpoint}`;
      throw new ApiError('batch_model_not_supported', `The model '${model}' is not available for batch processing${onEndpoint}`, 'input_file_id');
    }
    const active = capable.filter((s) => s.active);
    if (active.length === 0) {
      throw new ApiError('batch_routing_unavailable', `The model '${model}' has no active batch route right now; try again later`, 'input_file_id');
    }
    const top = Math.max(...active.map((s) => s.priority));
    const tied = active.filter((s) => s.priority === top).sort((a, b) => a.id.localeCompare(b.id));
    const totalWeight = tied.reduce((sum, s) => sum + s.weight, 0);
    let pick = random() * totalWeight;
    const chosen = tied.find((s) => (pick -= s.weight) < 0) ?? tied[tied.length - 1];
    const provider = await this.providers.findOneBy({ id: chosen.providerId });
    const execution: ExecutionMode = provider?.batchApi ? 'provider_batch' : 'realtime';
    const factor = execution === 'provider_batch' ? 1 - (chosen.batchDiscount ?? 0) : 1;
    const price = (perMtok: number | null) => (perMtok === null ? null : perMtok * factor);
    return {
      skuId: chosen.id,
      providerId: chosen.providerId,
      upstreamModel: chosen.upstreamModel,
      execution,
      inputPricePerMtok: price(chosen.inputPricePerMtok),
      outputPricePerMtok: price(chosen.outputPricePerMtok),
      costCurrency: chosen.inputPricePerMtok === null && chosen.outputPricePerMtok === null ? null : this.config.costCurrency,
    };
  }

  async upsertProvider(input: ProviderInput): Promise<Provider> {
    if (input.kind === 'openai' && !input.base_url) {
      throw new ApiError('invalid_request_error', `Provider '${input.id}' of kind openai needs base_url`, 'base_url');
    }
    const prefix = this.config.apiKeyEnvPrefix;
    if (input.api_key_env && !input.api_key_env.startsWith(prefix)) {
      // Otherwise any variable of the gateway (the admin token, DATABASE_URL) could be sent to any host as a bearer token.
      throw new ApiError(
        'invalid_request_error',
        `Provider '${input.id}': api_key_env must start with ${prefix} (API_KEY_ENV_PREFIX); got ${input.api_key_env}`,
        'api_key_env',
      );
    }
    const now = this.clock.nowSeconds();
    const existing = await this.providers.findOneBy({ id: input.id });
    const batchApi = input.batch_api ?? existing?.batchApi ?? false;
    if (batchApi && input.kind !== 'openai') {
      throw new ApiError('invalid_request_error', `Provider '${input.id}': batch_api needs kind openai (a Files + Batches API under base_url)`, 'batch_api');
    }
    const entity = this.providers.merge(existing ?? this.providers.create({ id: input.id, createdAt: now }), {
      kind: input.kind,
      baseUrl: input.base_url ?? existing?.baseUrl ?? 'mock://local',
      apiKeyEnv: input.api_key_env ?? existing?.apiKeyEnv ?? null,
      maxConcurrency: input.max_concurrency ?? existing?.maxConcurrency ?? 16,
      rateLimitPerMinute: input.rate_limit_per_minute ?? existing?.rateLimitPerMinute ?? null,
      timeoutMs: input.timeout_ms ?? existing?.timeoutMs ?? null,
      batchApi,
      batchPollIntervalMs: input.batch_poll_interval_ms ?? existing?.batchPollIntervalMs ?? PROVIDER_BATCH_DEFAULTS.pollIntervalMs,
      maxBatchLines: input.max_batch_lines ?? existing?.maxBatchLines ?? PROVIDER_BATCH_DEFAULTS.maxLines,
      maxBatchBytes: input.max_batch_bytes ?? existing?.maxBatchBytes ?? PROVIDER_BATCH_DEFAULTS.maxBytes,
      updatedAt: now,
    });
    return toProvider(await this.providers.save(entity));
  }

  async upsertSku(input: SkuInput): Promise<Sku> {
    if (!(await this.providers.existsBy({ id: input.provider }))) {
      throw new ApiError('invalid_request_error', `Unknown provider '${input.provider}'`, 'provider_id');
    }
    const now = this.clock.nowSeconds();
    const existing = await this.skus.findOneBy({ id: input.id });
    const entity = this.skus.merge(existing ?? this.skus.create({ id: input.id, createdAt: now }), {
      model: input.model,
      providerId: input.provider,
      upstreamModel: input.upstream_model,
      batchCapable: input.batch_capable ?? existing?.batchCapable ?? true,
      endpoints: input.endpoints ? [...new Set(input.endpoints)] : (existing?.endpoints ?? null),
      active: input.active ?? existing?.active ?? true,
      priority: input.priority ?? existing?.priority ?? 0,
      weight: input.weight ?? existing?.weight ?? 1,
      inputPricePerMtok: input.input_price_per_mtok ?? existing?.inputPricePerMtok ?? null,
      outputPricePerMtok: input.output_price_per_mtok ?? existing?.outputPricePerMtok ?? null,
      batchDiscount: input.batch_discount ?? existing?.batchDiscount ?? null,
      updatedAt: now,
    });
    return toSku(await this.skus.save(entity));
  }

  async setSkuActive(id: string, active: boolean): Promise<Sku> {
    const sku = await this.skus.findOneBy({ id });
    if (!sku) throw ApiError.notFound('SKU', id, 'id');
    sku.active = active;
    sku.updatedAt = this.clock.nowSeconds();
    return toSku(await this.skus.save(sku));
  }

  async listProviders(): Promise<Provider[]> {
    return (await this.providers.find({ order: { id: 'ASC' } })).map(toProvider);
  }

  async listSkus(): Promise<Sku[]> {
    return (await this.skus.find({ order: { model: 'ASC', priority: 'DESC', id: 'ASC' } })).map(toSku);
  }

  async getProvider(id: string): Promise<Provider> {
    const provider = await this.providers.findOneBy({ id });
    if (!provider) throw ApiError.notFound('provider', id);
    return toProvider(provider);
  }

  async findSkusByIds(ids: readonly string[]): Promise<Sku[]> {
    return ids.length === 0 ? [] : (await this.skus.findBy({ id: In([...ids]) })).map(toSku);
  }

  async findProvidersByIds(ids: readonly string[]): Promise<Provider[]> {
    return ids.length === 0 ? [] : (await this.providers.findBy({ id: In([...ids]) })).map(toProvider);
  }
}

function toProvider(p: ProviderEntity): Provider {
  return {
    id: p.id,
    kind: p.kind,
    baseUrl: p.baseUrl,
    apiKeyEnv: p.apiKeyEnv,
    maxConcurrency: p.maxConcurrency,
    rateLimitPerMinute: p.rateLimitPerMinute,
    timeoutMs: p.timeoutMs,
    batchApi: p.batchApi,
    batchPollIntervalMs: p.batchPollIntervalMs,
    maxBatchLines: p.maxBatchLines,
    maxBatchBytes: p.maxBatchBytes,
  };
}

function toSku(s: SkuEntity): Sku {
  return {
    id: s.id,
    model: s.model,
    providerId: s.providerId,
    upstreamModel: s.upstreamModel,
    batchCapable: s.batchCapable,
    endpoints: skuEndpoints(s),
    active: s.active,
    priority: s.priority,
    weight: s.weight,
    inputPricePerMtok: s.inputPricePerMtok,
    outputPricePerMtok: s.outputPricePerMtok,
    batchDiscount: s.batchDiscount,
  };
}

function skuEndpoints(s: SkuEntity): string[] {
  return s.endpoints ?? [DEFAULT_BATCH_ENDPOINT];
}
