import { Inject, Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
// nestjs-pino's own request store: what `Logger` (and so every `new Logger(...)` in the app) logs through.
import { storage, Store } from 'nestjs-pino/storage';
import type { Logger as Pino } from 'pino';
import { Metrics } from '../metrics/metrics.service';

/** The root pino logger of the process (level, redaction); request loggers are its children. */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

/** A request slower than this is logged at `info` (every request is, at `debug`; a 5xx at `error`). */
export const SLOW_REQUEST_MS = 1000;

const REQUEST_ID = /^[\w.-]{1,128}$/;

/**
 * What a request logs through while it is handled: a child logger bound to `req: { id, method, url }`,
 * created only when something logs (almost never for a successful request, so the hot path pays for
 * no child logger and no serialization).
 */
class RequestLogContext implements Store {
  readonly responseLogger = undefined;
  private child: Pino | undefined;

  constructor(
    private readonly root: Pino,
    private readonly req: Request,
    private readonly id: string,
  ) {}

  get logger(): Pino {
    return (this.child ??= this.root.child({ req: { id: this.id, method: this.req.method, url: this.req.originalUrl } }));
  }

  set logger(logger: Pino) {
    // PinoLogger.assign() replaces the request's logger with a child of it.
    this.child = logger;
  }
}

/**
 * The per-request instrumentation, as one plain Express middleware in front of everything else (so
 * body-parser refusals and unknown routes are counted too): the request id (a valid incoming
 * `x-request-id`, or a new UUID, echoed in the response), the request's log context, one access-log
 * line when the response closes (debug: every request; info: slow ones; error: 5xx), and the
 * `batch_gateway_http_requests_total` counter by route pattern (never the raw path, so ids do not
 * explode the label set).
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
    const context = new RequestLogContext(this.root, req, id);
    res.once('close', () => this.closed(req, res, context, performance.now() - started));
    storage.run(context, next);
  };

  private closed(req: Request, res: Response, context: RequestLogContext, ms: number): void {
    const finished = res.writableFinished;
    const status = res.statusCode;
    if (finished) {
      const route = (req.route?.path as string | undefined) ?? (req.baseUrl === '/graphql' ? '/graphql' : 'unmatched');
      this.metrics.httpRequests.inc({ method: req.method, route, status: String(status) });
    }
    const level = status >= 500 ? 'error' : ms >= SLOW_REQUEST_MS ? 'info' : 'debug';
    if (!this.root.isLevelEnabled(level)) return;
    const message = !finished ? 'request aborted' : status >= 500 ? 'request failed' : 'request completed';
    context.logger[level]({ res: { statusCode: status }, responseTime: Math.round(ms) }, message);
  }
}
