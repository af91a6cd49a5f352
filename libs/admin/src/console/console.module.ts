import { PublicRoute } from '@app/accounts';
import { APP_CONFIG, AppConfig } from '@app/core';
import {
  Controller,
  Get,
  Inject,
  Injectable,
  Logger,
  MiddlewareConsumer,
  Module,
  NestMiddleware,
  NestModule,
  OnModuleInit,
  Redirect,
  RequestMethod,
  Res,
} from '@nestjs/common';
import { ServeStaticModule } from '@nestjs/serve-static';
import { ApiExcludeController } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { consoleCacheControl, consoleSecurityHeaders } from './console-headers';

/** Where the console lives; its routes (the signed file downloads) are Nest controllers under it. */
export const CONSOLE_PATH = '/admin';

/** `GET /` opens the console; `GET /admin` is its page (the static module answers only below /admin/). */
@ApiExcludeController()
@PublicRoute()
@Controller()
export class ConsoleController {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  @Get()
  @Redirect(CONSOLE_PATH, 302)
  root(): void {}

  @Get(CONSOLE_PATH)
  page(@Res() res: Response): void {
    res.setHeader('Cache-Control', consoleCacheControl('index.html'));
    res.sendFile('index.html', { root: this.config.consoleDir });
  }
}

const NOT_BUILT = 'The operator console is not built. Run "npm run build" (or "npm run build:console") on the gateway, then reload this page.\n';

const indexBuilt = (config: AppConfig) => existsSync(join(config.consoleDir, 'index.html'));

/**
 * In front of everything under /admin: the security headers, and, while the console is not built, a
 * plain 404 saying so (rather than the static module's, which names a path on disk). Checked per
 * request until the build appears, so building while the gateway runs needs no restart.
 */
@Injectable()
export class ConsoleGateMiddleware implements NestMiddleware {
  private built = false;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  use(req: Request, res: Response, next: NextFunction): void {
    consoleSecurityHeaders(req, res, (err?: unknown) => {
      if (err) return next(err);
      if (this.built || req.path.startsWith(`${CONSOLE_PATH}/files/`)) return next();
      this.built = indexBuilt(this.config);
      if (this.built) return next();
      res.status(404).type('text/plain').setHeader('Cache-Control', 'no-store').send(NOT_BUILT);
    });
  }
}

/**
 * The operator console at /admin: the Vite build in CONSOLE_DIR served by Nest's static module, any
 * other path under /admin answered with index.html (the console's own routes, opened as deep links),
 * except a missing file under assets/, which is a 404 rather than a page the browser would refuse as a
 * script. The API stays where it is: nothing outside /admin is served from here.
 */
@Module({
  imports: [
    ServeStaticModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => [
        {
          rootPath: config.consoleDir,
          serveRoot: CONSOLE_PATH,
          exclude: [`${CONSOLE_PATH}/assets/{*path}`, `${CONSOLE_PATH}/files/{*path}`],
          serveStaticOptions: {
            index: 'index.html',
            redirect: false,
            fallthrough: true,
            dotfiles: 'ignore',
            setHeaders: (res: Response, path: string) => res.setHeader('Cache-Control', consoleCacheControl(path)),
          },
        },
      ],
    }),
  ],
  controllers: [ConsoleController],
  providers: [ConsoleGateMiddleware],
})
export class ConsoleModule implements NestModule, OnModuleInit {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onModuleInit(): void {
    if (!indexBuilt(this.config)) {
      new Logger('Console').log(
        { consoleDir: this.config.consoleDir },
        'The operator console is not built: /admin answers 404 until "npm run build:console" has run',
      );
    }
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(ConsoleGateMiddleware).forRoutes({ path: 'admin', method: RequestMethod.ALL }, { path: 'admin/{*path}', method: RequestMethod.ALL });
  }
}
