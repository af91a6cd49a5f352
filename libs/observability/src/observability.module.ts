import { BatchesModule } from '@app/batches';
import { FilesModule } from '@app/files';
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), BatchesModule, FilesModule],
  controllers: [HealthController, MetricsController],
})
export class ObservabilityModule {}
