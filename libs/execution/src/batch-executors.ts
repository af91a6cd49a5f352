import type { ExecutionMode } from '@app/routing';
import { Injectable } from '@nestjs/common';
import type { BatchExecutor } from './batch-executor';
import { ProviderBatchExecutor } from './provider-batch/provider-batch.executor';
import { Scheduler } from './realtime/scheduler.service';

/** The two executors side by side, and which one runs a batch (its `execution`, fixed at create). */
@Injectable()
export class BatchExecutors {
  private readonly byMode: Record<ExecutionMode, BatchExecutor>;

  constructor(realtime: Scheduler, providerBatch: ProviderBatchExecutor) {
    this.byMode = { realtime, provider_batch: providerBatch };
  }

  for(mode: ExecutionMode): BatchExecutor {
    return this.byMode[mode];
  }

  get all(): BatchExecutor[] {
    return Object.values(this.byMode);
  }
}
