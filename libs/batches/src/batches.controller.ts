import { AccountId } from '@app/accounts';
import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { BatchesService } from './batches.service';
import { CreateBatchDto } from './dto/create-batch.dto';
import { ListBatchesQuery } from './dto/list-batches.query';

@Controller(['v1/batches', 'api/v1/batches'])
export class BatchesController {
  constructor(private readonly batches: BatchesService) {}

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
}
