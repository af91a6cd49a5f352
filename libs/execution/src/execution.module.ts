import { AccountsModule } from '@app/accounts';
import { BatchesModule } from '@app/batches';
import { FilesModule } from '@app/files';
import { RoutingModule } from '@app/routing';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BatchFinalizer } from './batch-finalizer.service';
import { BatchRunner } from './batch-runner.service';
import { BatchRequestEntity } from './entities/batch-request.entity';
import { SchedulerWorkerEntity } from './entities/scheduler-worker.entity';
import { ExecutionWorkers } from './execution.workers';
import { RequestRowsService } from './request-rows.service';
import { LineLeases } from './scheduler/line-leases.repository';
import { Scheduler } from './scheduler/scheduler.service';
import { SweeperService } from './sweeper.service';
import { UpstreamService } from './upstream/upstream.service';

@Module({
  imports: [TypeOrmModule.forFeature([BatchRequestEntity, SchedulerWorkerEntity]), AccountsModule, BatchesModule, FilesModule, RoutingModule],
  providers: [BatchRunner, BatchFinalizer, RequestRowsService, SweeperService, UpstreamService, LineLeases, Scheduler, ExecutionWorkers],
  exports: [RequestRowsService, SweeperService],
})
export class ExecutionModule {}
