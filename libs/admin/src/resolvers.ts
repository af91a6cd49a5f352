import { AccountQuotasResolver } from './account-quotas.resolver';
import { AccountSpendResolver } from './account-spend.resolver';
import { AccountsResolver } from './accounts.resolver';
import { BatchesResolver } from './batches.resolver';
import { FilesResolver } from './files.resolver';
import { OverviewResolver } from './overview.resolver';
import { RoutingResolver } from './routing.resolver';
import { UsageReportResolver } from './usage-report.resolver';

/** Every resolver of the admin API: the module serves them, and the schema printer builds the schema from them. */
export const ADMIN_RESOLVERS = [
  BatchesResolver,
  AccountsResolver,
  AccountQuotasResolver,
  AccountSpendResolver,
  RoutingResolver,
  OverviewResolver,
  FilesResolver,
  UsageReportResolver,
];
