import { PublicRoute } from '@app/accounts';
import { BatchReports } from '@app/batches';
import { Metrics } from '@app/core';
import { JobQueue } from '@app/queue';
import { Controller, Get, Header, OnModuleInit } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';

/** Prometheus scrape endpoint; gauges that live in the database or the queue are refreshed per scrape. */
@ApiExcludeController()
@PublicRoute()
@Controller('metrics')
export class MetricsController implements OnModuleInit {
  constructor(
    private readonly metrics: Metrics,
    private readonly batches: BatchReports,
    private readonly queue: JobQueue,
  ) {}

  onModuleInit(): void {
    this.metrics.onScrape(async () => {
      const counts = await this.batches.countByStatus();
      this.metrics.batchesByStatus.reset();
      for (const [status, count] of Object.entries(counts)) this.metrics.batchesByStatus.set({ status }, count);
    });
    this.metrics.onScrape(async () => {
      for (const [queue, depth] of Object.entries(await this.queue.depth())) {
        this.metrics.queueDepth.set({ queue, state: 'waiting' }, depth.waiting);
        this.metrics.queueDepth.set({ queue, state: 'active' }, depth.active);
      }
    });
  }

  @Get()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.scrape();
  }
}
