import { StreamableFile } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { Response } from 'express';
import { envelopeFor, successBody } from './envelope';

/**
 * The HTTP adapter of the gateway: every successful REST answer goes out in the envelope its prefix asks
 * for; streamed bodies (file content) pass untouched. Errors get theirs from EnvelopeExceptionFilter.
 *
 * This is the one place a handler's result is turned into a response, so wrapping it here costs a
 * property read, where a global interceptor (an RxJS pipe and async-context bindings on every request)
 * cost about a fifth of a `GET /v1/batches/{id}`.
 */
export class EnvelopeExpressAdapter extends ExpressAdapter {
  reply(response: Response, body: unknown, statusCode?: number): unknown {
    // Error answers never come through here on the REST routes (the filter writes them); should one, it is left alone.
    if ((statusCode !== undefined && statusCode >= 400) || body instanceof StreamableFile) return super.reply(response, body, statusCode);
    body = successBody(envelopeFor(response.req.path), body);
    if (typeof body !== 'object' || body === null || response.hasHeader('content-type')) return super.reply(response, body, statusCode);
    // What res.json() writes for an object, without its generic steps (settings, content-type parsing).
    const json = JSON.stringify(body);
    if (statusCode) response.statusCode = statusCode;
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.setHeader('Content-Length', Buffer.byteLength(json));
    return response.end(json);
  }
}
