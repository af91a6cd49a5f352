import { AccountsModule } from '@app/accounts';
import { BatchesModule } from '@app/batches';
import { APP_CONFIG, AppConfig } from '@app/core';
import { ExecutionModule } from '@app/execution';
import { FilesModule } from '@app/files';
import { RoutingModule } from '@app/routing';
import { WebhooksModule } from '@app/webhooks';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { AdminTokenMiddleware } from './admin-token.middleware';
import { FileDownloadLinks } from './file-downloads/file-download-links';
import { FileDownloadsController } from './file-downloads/file-downloads.controller';
import { adminErrorFormatter } from './format-error';
import { AdminLoaderFactory } from './loaders';
import { queryLimitsPlugin, QueryTokensMiddleware } from './query-limits';
import { OverviewService } from './overview.service';
import { ProviderLoadQueries } from './provider-load.queries';
import { ProviderBatchQueries } from './provider-batch.queries';
import { RequestRowQueries } from './request-rows.queries';
import { ADMIN_RESOLVERS } from './resolvers';
import { UsageReportQueries } from './usage-report.queries';
import { WebhookDeliveryQueries } from './webhook-deliveries.queries';

@Module({
  imports: [AccountsModule, BatchesModule, ExecutionModule, RoutingModule, WebhooksModule],
  providers: [AdminLoaderFactory, RequestRowQueries, WebhookDeliveryQueries, ProviderBatchQueries],
  exports: [AdminLoaderFactory, RequestRowQueries, WebhookDeliveryQueries],
})
class AdminLoadersModule {}

/**
 * The operators' GraphQL API at /graphql (code first), behind the admin token, and the signed download
 * links it hands the console (/admin/files/{id}/content).
 */
@Module({
  imports: [
    AccountsModule,
    BatchesModule,
    ExecutionModule,
    FilesModule,
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
  controllers: [FileDownloadsController],
  providers: [...ADMIN_RESOLVERS, OverviewService, ProviderLoadQueries, FileDownloadLinks, UsageReportQueries],
})
export class AdminModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    // Apollo answers /graphql and every path below it, so the guard (then the token count) covers both.
    consumer
      .apply(AdminTokenMiddleware, QueryTokensMiddleware)
      .forRoutes({ path: 'graphql', method: RequestMethod.ALL }, { path: 'graphql/{*path}', method: RequestMethod.ALL });
  }
}
