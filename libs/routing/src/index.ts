export * from './routing.module';
export * from './routing.service';
export { MAX_PROVIDER_CONCURRENCY, PROVIDER_BATCH_BOUNDS, PROVIDER_BATCH_DEFAULTS, ProviderInput, SkuInput, RoutingFile } from './dto/routing.inputs';
export { readRoutingFile, InvalidRoutingFileError, DEFAULT_ROUTING } from './routing-seeder.service';
export type { ProviderKind } from './entities/provider.entity';
