import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import pino from 'pino';
import { APP_CONFIG, AppConfig } from './config/app-config';
import { EnvelopeExceptionFilter } from './envelope/envelope.filter';
import { RequestTelemetry, ROOT_LOGGER } from './http/request-telemetry';
import { Metrics } from './metrics/metrics.service';
import { QuietLogger } from './quiet-logger';
import { Clock } from './util/clock';
import { IdGenerator } from './util/ids';
import { NulPipe } from './nul.pipe';
import { createValidationPipe } from './validation.pipe';

/**
 * Configuration, time, ids, logging and the cross-cutting REST pieces (the error envelope, validation,
 * request telemetry). Registered as APP_* providers so every app root and every test app gets them; the
 * success envelope is the HTTP adapter's (EnvelopeExpressAdapter) and the telemetry middleware is mounted
 * by the gateway's bootstrap, in front of everything else.
 */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: AppConfig): DynamicModule {
    const root = pino({
      level: config.logLevel,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          '*.apiKey',
          '*.secret',
          '*.webhookSecret',
          // A failed query (TypeORM's QueryFailedError) carries its bound values and the driver's row detail.
          'err.parameters',
          'err.driverError',
          'err.detail',
        ],
        censor: '[redacted]',
      },
    });
    return {
      module: CoreModule,
      imports: [
        // nestjs-pino for `Logger` (through QuietLogger); its pino-http middleware (per-request child loggers in
        // an AsyncLocalStorage) is replaced by RequestTelemetry, so it is mounted on no route.
        LoggerModule.forRoot({ pinoHttp: { logger: root }, forRoutes: [] }),
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: ROOT_LOGGER, useValue: root },
        Clock,
        IdGenerator,
        QuietLogger,
        Metrics,
        RequestTelemetry,
        { provide: APP_FILTER, useClass: EnvelopeExceptionFilter },
        // NUL first: the validators (and class-transformer) then only ever see text the database can store.
        { provide: APP_PIPE, useClass: NulPipe },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
      exports: [APP_CONFIG, Clock, IdGenerator, QuietLogger, Metrics, RequestTelemetry],
    };
  }
}
