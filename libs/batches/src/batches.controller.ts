import { AccountId } from '@app/accounts';
import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { BatchReruns } from './batch-reruns.service';
import { BatchesService } from './batches.service';
import { CreateBatchDto } from './dto/create-batch.dto';
import { ListBatchesQuery } from './dto/list-batches.query';
import { RerunBatchDto } from './dto/rerun-batch.dto';

@Controller(['v1/batches', 'api/v1/batches'])
export class BatchesController {
  constructor(
    private readonly batches: BatchesService,
    private readonly reruns: BatchReruns,
  ) {}

  @Post()
  @HttpCode(200)
  create(@AccountId() accountId: string, @Body() dto: CreateBatchDto) {
    return this.batches.create(accountId, dto);
  }

  @Get()
  list(@AccountId() accountId: string, @Query() query: ListBatchesQuery) {
    return this.batches.list(accountId, query);
  }

  @Get(':id')
  get(@AccountId() accountId: string, @Param('id') id: string) {
    return this.batches.get(accountId, id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  cancel(@AccountId() accountId: string, @Param('id') id: string) {
    return this.batches.cancel(accountId, id);
  }

  /** An extension: a new batch from the lines of a finished batch that failed or never ran (docs/api.md). */
  @Post(':id/rerun')
  @HttpCode(200)
  rerun(@AccountId() accountId: string, @Param('id') id: string, @Body() dto: RerunBatchDto) {
    return this.reruns.rerun(accountId, id, dto);
  }
}
