import { DynamicModule, Global, MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG, AppConfig } from './config/app-config';
import { EnvelopeExceptionFilter } from './envelope/envelope.filter';
import { EnvelopeInterceptor } from './envelope/envelope.interceptor';
import { HttpMetricsMiddleware } from './metrics/http-metrics.middleware';
import { Metrics } from './metrics/metrics.service';
import { QuietLogger } from './quiet-logger';
import { Clock } from './util/clock';
import { IdGenerator } from './util/ids';
import { createValidationPipe } from './validation.pipe';

/**
 * Configuration, time, ids, logging and the cross-cutting REST pieces (envelopes, validation).
 * Registered as APP_* providers so every app root and every test app gets them.
 */
@Global()
@Module({})
export class CoreModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(HttpMetricsMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
  }

  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: CoreModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            // Quiet by default: one line per request only at debug level.
            autoLogging: config.logLevel === 'debug' || config.logLevel === 'trace',
            genReqId: (req, res) => {
              const incoming = req.headers['x-request-id'];
              const id = typeof incoming === 'string' && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
              res.setHeader('x-request-id', id);
              return id;
            },
            redact: {
              paths: ['req.headers.authorization', 'req.headers.cookie', '*.apiKey', '*.secret', '*.webhookSecret'],
              censor: '[redacted]',
            },
            serializers: {
              req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
            },
          },
        }),
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        Clock,
        IdGenerator,
        QuietLogger,
        Metrics,
        { provide: APP_FILTER, useClass: EnvelopeExceptionFilter },
        { provide: APP_INTERCEPTOR, useClass: EnvelopeInterceptor },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
      exports: [APP_CONFIG, Clock, IdGenerator, QuietLogger, Metrics],
    };
  }
}
