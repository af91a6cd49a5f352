import { Injectable } from '@nestjs/common';
import { Logger } from 'nestjs-pino';

/** Framework start-up chatter (one line per module and route) that says nothing an operator needs. */
const FRAMEWORK_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'GraphQLModule']);

/** The pino logger, minus Nest's start-up lines at `log` level: quiet by default. */
@Injectable()
export class QuietLogger extends Logger {
  log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams[optionalParams.length - 1];
    if (typeof context === 'string' && FRAMEWORK_CONTEXTS.has(context)) return;
    super.log(message, ...optionalParams);
  }
}
