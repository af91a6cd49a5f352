import { Inject, Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { Logger as Pino } from 'pino';
import { Metrics } from '../metrics/metrics.service';

/** The root pino logger of the process (level, redaction); request log lines are its children. */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

/** A request slower than this is logged at `info` (every request is, at `debug`; a 5xx at `error`). */
export const SLOW_REQUEST_MS = 1000;

const REQUEST_ID = /^[\w.-]{1,128}$/;

/** A signed link's signature (the console's file downloads) is a credential while it lasts: never logged. */
const SIGNATURE = /([?&]signature=)[^&#]*/g;

/** How a log line names the request it is about: `req: { id, method, url }`. */
export function requestLogFields(req: Request): { id: string | undefined; method: string; url: string } {
  return { id: (req as Request & { id?: string }).id, method: req.method, url: req.originalUrl.replace(SIGNATURE, '$1[redacted]') };
}

/**
 * The per-request instrumentation, as one plain Express middleware in front of everything else (so
 * body-parser refusals and unknown routes are counted too): the request id (a valid incoming
 * `x-request-id`, or a new UUID, echoed in the response and kept as `req.id`), one access-log line when
 * the response closes (debug: every request; info: slow ones; error: 5xx), and the
 * `batch_gateway_http_requests_total` counter by route pattern (never the raw path, so ids do not
 * explode the label set).
 *
 * Nothing is built for the log unless a line is written, and no per-request async context is kept:
 * nestjs-pino's pino-http middleware made two child loggers per request and bound them in an
 * AsyncLocalStorage, whose promise hooks then taxed every promise of the process (the batch workers'
 * included) — together about a quarter of a `GET /v1/batches/{id}`. Code that logs about a request
 * names it with `requestLogFields` (EnvelopeExceptionFilter does).
 */
@Injectable()
export class RequestTelemetry {
  constructor(
    @Inject(ROOT_LOGGER) private readonly root: Pino,
    private readonly metrics: Metrics,
  ) {}

  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    (req as Request & { id: string }).id = id;
    res.setHeader('x-request-id', id);
    const started = performance.now();
    res.once('close', () => this.closed(req, res, performance.now() - started));
    next();
  };

  private closed(req: Request, res: Response, ms: number): void {
    const finished = res.writableFinished;
    const status = res.statusCode;
    if (finished) {
      const route = (req.route as { path?: string } | undefined)?.path ?? (req.baseUrl === '/graphql' ? '/graphql' : 'unmatched');
      this.metrics.httpRequests.inc({ method: req.method, route, status: String(status) });
    }
    const level = status >= 500 ? 'error' : ms >= SLOW_REQUEST_MS ? 'info' : 'debug';
    if (!this.root.isLevelEnabled(level)) return;
    const message = !finished ? 'request aborted' : status >= 500 ? 'request failed' : 'request completed';
    this.root[level]({ req: requestLogFields(req), res: { statusCode: status }, responseTime: Math.round(ms) }, message);
  }
}
