import { AccountId } from '@app/accounts';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, UploadedFile, UseInterceptors } from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import { DiscardUploadOnError } from './discard-upload-on-error.interceptor';
import { ListFilesQuery } from './dto/list-files.query';
import { FilesService, UploadFields } from './files.service';
import type { StoredUpload } from './upload-storage.engine';

@Controller(['v1/files', 'api/v1/files'])
export class FilesController {
  constructor(private readonly files: FilesService) {}

  @Post()
  @HttpCode(200)
  @UseInterceptors(FileInterceptor('file'), DiscardUploadOnError)
  // The fields are checked by the service (a refused upload is discarded by DiscardUploadOnError).
  upload(@AccountId() accountId: string, @UploadedFile() file: StoredUpload | undefined, @Body() fields: UploadFields) {
    return this.files.upload(accountId, file, fields);
  }

  @Get()
  list(@AccountId() accountId: string, @Query() query: ListFilesQuery) {
    return this.files.list(accountId, query);
  }

  @Get(':id')
  get(@AccountId() accountId: string, @Param('id') id: string) {
    return this.files.get(accountId, id);
  }

  @Get(':id/content')
  content(@AccountId() accountId: string, @Param('id') id: string) {
    return this.files.content(accountId, id);
  }

  @Delete(':id')
  delete(@AccountId() accountId: string, @Param('id') id: string) {
    return this.files.delete(accountId, id);
  }
}
