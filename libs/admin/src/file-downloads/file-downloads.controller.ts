import { PublicRoute } from '@app/accounts';
import { Controller, Get, Header, Param, Query } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { FileDownloadLinks } from './file-download-links';

/** Where the console's signed download links point: no API key or admin token, the signature is the credential. */
@ApiExcludeController()
@PublicRoute()
@Controller('admin/files')
export class FileDownloadsController {
  constructor(private readonly links: FileDownloadLinks) {}

  @Get(':id/content')
  @Header('Cache-Control', 'no-store')
  content(@Param('id') id: string, @Query('expires') expires: unknown, @Query('signature') signature: unknown) {
    return this.links.open(id, expires, signature);
  }
}
