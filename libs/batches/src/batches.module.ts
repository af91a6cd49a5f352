import { AccountsModule } from '@app/accounts';
import { FilesModule } from '@app/files';
import { RoutingModule } from '@app/routing';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BatchJobs } from './batch-jobs';
import { BatchReruns } from './batch-reruns.service';
import { BatchReports } from './batch-reports.service';
import { BatchRuns } from './batch-runs.service';
import { BatchStateMachine } from './batch-state-machine';
import { BatchesController } from './batches.controller';
import { BatchesRepository } from './batches.repository';
import { BatchesService } from './batches.service';
import { BatchEntity } from './entities/batch.entity';
import { SpendLimits } from './spend-limits.service';

@Module({
  imports: [TypeOrmModule.forFeature([BatchEntity]), FilesModule, RoutingModule, AccountsModule],
  controllers: [BatchesController],
  providers: [BatchesService, BatchesRepository, BatchRuns, BatchReports, BatchStateMachine, BatchJobs, BatchReruns, SpendLimits],
  exports: [BatchesService, BatchRuns, BatchReports, BatchStateMachine, BatchJobs, BatchReruns, SpendLimits],
})
export class BatchesModule {}
