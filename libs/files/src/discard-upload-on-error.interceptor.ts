import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { Request } from 'express';
import { catchError, from, Observable } from 'rxjs';
import { FilesService } from './files.service';
import type { StoredUpload } from './upload-storage.engine';

/**
 * Removes an upload's stored bytes when anything after storing it refuses the request (a pipe, the
 * service's field checks, the database): a refused upload leaves nothing behind. Listed after the
 * FileInterceptor, so it runs inside it and sees every later failure.
 */
@Injectable()
export class DiscardUploadOnError implements NestInterceptor {
  constructor(private readonly files: FilesService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<Request & { file?: Partial<StoredUpload> }>();
    return next.handle().pipe(
      catchError((err: unknown) =>
        from(
          (async () => {
            if (req.file?.fileId) await this.files.discardUpload(req.file.fileId);
            throw err;
          })(),
        ),
      ),
    );
  }
}
