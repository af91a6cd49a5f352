import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

/** The OpenAPI description of the REST API (both prefixes), generated from the controllers. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Batch Gateway')
    .setDescription(
      'OpenAI-compatible Batch API. Every operation is served under /v1 (OpenAI objects and errors) and under /api/v1 ' +
        '(the same object wrapped as {success, code, message, data}). See docs/api.md.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key, sk-…' }, 'bearer')
    .addSecurityRequirements('bearer')
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** Serves the document at /openapi.json (no UI). */
export function serveOpenApi(app: INestApplication): void {
  const document = buildOpenApiDocument(app);
  app.getHttpAdapter().get('/openapi.json', (_req: unknown, res: { json(body: unknown): void }) => res.json(document));
}
