import { CallHandler, ExecutionContext, Injectable, NestInterceptor, StreamableFile } from '@nestjs/common';
import type { Request } from 'express';
import { map, Observable } from 'rxjs';
import { envelopeFor, successBody } from './envelope';

/** Wraps every successful REST answer in the envelope its prefix asks for; streamed bodies pass untouched. */
@Injectable()
export class EnvelopeInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const envelope = envelopeFor(context.switchToHttp().getRequest<Request>().path);
    return next.handle().pipe(map((data) => (data instanceof StreamableFile ? data : successBody(envelope, data))));
  }
}
