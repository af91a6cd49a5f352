import { InitialSchema1732300000000 } from './1732300000000-initial-schema';
import { Webhooks1732400000000 } from './1732400000000-webhooks';
import { RequestFinishedIndex1732500000000 } from './1732500000000-request-finished-index';
import { Scheduler1732600000000 } from './1732600000000-scheduler';
import { ProviderBatches1732700000000 } from './1732700000000-provider-batches';
import { Retention1732800000000 } from './1732800000000-retention';
import { Endpoints1732900000000 } from './1732900000000-endpoints';
import { WorkerInFlight1733000000000 } from './1733000000000-worker-in-flight';
import { Quotas1733000000100 } from './1733000000100-quotas';
import { Costs1733000000200 } from './1733000000200-costs';

/** Every migration, in order. The migration CLI (ormconfig.ts) and the app both read this list. */
export const MIGRATIONS = [
  InitialSchema1732300000000,
  Webhooks1732400000000,
  RequestFinishedIndex1732500000000,
  Scheduler1732600000000,
  ProviderBatches1732700000000,
  Retention1732800000000,
  Endpoints1732900000000,
  WorkerInFlight1733000000000,
  Quotas1733000000100,
  Costs1733000000200,
];
