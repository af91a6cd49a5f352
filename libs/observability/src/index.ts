export * from './observability.module';
export { buildOpenApiDocument, serveOpenApi } from './openapi';
