import { AccountsModule } from '@app/accounts';
import { BatchesModule } from '@app/batches';
import { FilesModule } from '@app/files';
import { RoutingModule } from '@app/routing';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BatchExecutors } from './batch-executors';
import { BatchFinalizer } from './batch-finalizer.service';
import { BatchRunner } from './batch-runner.service';
import { BatchRequestEntity } from './entities/batch-request.entity';
import { SchedulerWorkerEntity } from './entities/scheduler-worker.entity';
import { ExecutionWorkers } from './execution.workers';
import { RequestRowsRepository } from './request-rows.repository';
import { RequestRowsService } from './request-rows.service';
import { RerunLineSource } from './rerun-lines';
import { ProviderBatchEntity } from './provider-batch/provider-batch.entity';
import { ProviderBatchExecutor } from './provider-batch/provider-batch.executor';
import { ProviderBatches } from './provider-batch/provider-batches.repository';
import { LineLeases } from './realtime/line-leases.repository';
import { Scheduler } from './realtime/scheduler.service';
import { SweeperService } from './sweeper.service';
import { ProviderPool } from './upstream/provider-pool';
import { WorkerPresence } from './worker-presence';

@Module({
  imports: [
    TypeOrmModule.forFeature([BatchRequestEntity, SchedulerWorkerEntity, ProviderBatchEntity]),
    AccountsModule,
    BatchesModule,
    FilesModule,
    RoutingModule,
  ],
  providers: [
    BatchRunner,
    BatchFinalizer,
    RequestRowsRepository,
    RequestRowsService,
    SweeperService,
    ProviderPool,
    WorkerPresence,
    LineLeases,
    Scheduler,
    ProviderBatches,
    ProviderBatchExecutor,
    BatchExecutors,
    ExecutionWorkers,
    RerunLineSource,
  ],
  exports: [RequestRowsService, SweeperService],
})
export class ExecutionModule {}
