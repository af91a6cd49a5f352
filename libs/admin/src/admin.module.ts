import { AccountsModule } from '@app/accounts';
import { BatchesModule } from '@app/batches';
import { APP_CONFIG, AppConfig } from '@app/core';
import { ExecutionModule } from '@app/execution';
import { RoutingModule } from '@app/routing';
import { WebhooksModule } from '@app/webhooks';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { AccountQuotasResolver } from './account-quotas.resolver';
import { AccountSpendResolver } from './account-spend.resolver';
import { AccountsResolver } from './accounts.resolver';
import { AdminTokenMiddleware } from './admin-token.middleware';
import { BatchesResolver } from './batches.resolver';
import { adminErrorFormatter } from './format-error';
import { AdminLoaderFactory } from './loaders';
import { OverviewResolver } from './overview.resolver';
import { queryLimitsPlugin, QueryTokensMiddleware } from './query-limits';
import { RequestRowQueries } from './request-rows.queries';
import { RoutingResolver } from './routing.resolver';
import { UsageReportQueries } from './usage-report.queries';
import { UsageReportResolver } from './usage-report.resolver';
import { WebhookDeliveryQueries } from './webhook-deliveries.queries';

@Module({
  imports: [AccountsModule, BatchesModule, ExecutionModule, RoutingModule, WebhooksModule],
  providers: [AdminLoaderFactory, RequestRowQueries, WebhookDeliveryQueries],
  exports: [AdminLoaderFactory, RequestRowQueries, WebhookDeliveryQueries],
})
class AdminLoadersModule {}

/** The operators' GraphQL API at /graphql (code first), behind the admin token. */
@Module({
  imports: [
    AccountsModule,
    BatchesModule,
    ExecutionModule,
    RoutingModule,
    WebhooksModule,
    AdminLoadersModule,
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      imports: [AdminLoadersModule],
      inject: [APP_CONFIG, AdminLoaderFactory],
      useFactory: (config: AppConfig, loaders: AdminLoaderFactory) => {
        const development = config.nodeEnv !== 'production';
        const plugins = [queryLimitsPlugin(), ...(development ? [ApolloServerPluginLandingPageLocalDefault({ embed: true })] : [])];
        return {
          path: '/graphql',
          autoSchemaFile: true,
          sortSchema: true,
          introspection: development,
          playground: false,
          plugins,
          // No "Did you mean …?" naming other fields in production's errors: Apollo's option for validation, the formatter for the rest.
          hideSchemaDetailsFromClientErrors: !development,
          csrfPrevention: true,
          formatError: adminErrorFormatter(!development),
          context: ({ req }: { req: unknown }) => ({ req, loaders: loaders.create() }),
        };
      },
    }),
  ],
  providers: [
    BatchesResolver,
    AccountsResolver,
    AccountQuotasResolver,
    RoutingResolver,
    OverviewResolver,
    AccountSpendResolver,
    UsageReportResolver,
    UsageReportQueries,
  ],
})
export class AdminModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    // Apollo answers /graphql and every path below it, so the guard (then the token count) covers both.
    consumer
      .apply(AdminTokenMiddleware, QueryTokensMiddleware)
      .forRoutes({ path: 'graphql', method: RequestMethod.ALL }, { path: 'graphql/{*path}', method: RequestMethod.ALL });
  }
}
