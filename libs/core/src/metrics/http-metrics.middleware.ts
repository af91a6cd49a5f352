import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { Metrics } from './metrics.service';

/** Counts every HTTP answer by its route pattern (not the raw path, so ids do not explode the label set). */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(private readonly metrics: Metrics) {}

  use(req: Request, res: Response, next: NextFunction): void {
    res.on('finish', () => {
      const route = (req.route?.path as string | undefined) ?? (req.baseUrl === '/graphql' ? '/graphql' : 'unmatched');
      this.metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  }
}
