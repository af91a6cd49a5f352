import type { ProviderInput, RoutingFile, SkuInput } from '@app/routing';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

/**
 * Routing files (ROUTING_FILE) for tests and benchmarks, built as objects with the routing file's own
 * field names (libs/routing's ProviderInput and SkuInput) and written as YAML, as an operator writes them.
 */
export type { RoutingFile };

/** Writes `file` to `path` as YAML; returns `path`, for ROUTING_FILE. */
export function writeRoutingFile(path: string, file: RoutingFile): string {
  writeFileSync(path, stringify(file));
  return path;
}

/** An OpenAI-compatible provider at `baseUrl`. */
export function openaiProvider(id: string, baseUrl: string, fields: Omit<ProviderInput, 'id' | 'kind' | 'base_url'> = {}): ProviderInput {
  return { id, kind: 'openai', base_url: baseUrl, ...fields };
}

/** The SKU `model@provider`, serving `model` as `upstreamModel`: batch-capable and active unless `fields` say otherwise. */
export function sku(model: string, provider: string, upstreamModel: string, fields: Partial<SkuInput> = {}): SkuInput {
  return { id: `${model}@${provider}`, model, provider, upstream_model: upstreamModel, batch_capable: true, active: true, ...fields };
}
