import { ApiError } from '@app/core';
import { CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { AccountsService } from './accounts.service';

const PUBLIC_ROUTE = 'batch-gateway:public-route';

/** Marks a REST route (health, metrics) that needs no API key. */
export const PublicRoute = () => SetMetadata(PUBLIC_ROUTE, true);

export interface AuthenticatedRequest extends Request {
  accountId: string;
}

export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match ? match[1] : null;
}

/** Every REST route needs `Authorization: Bearer sk-…` of a live key; the account id rides on the request. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly accounts: AccountsService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()])) return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(req.headers.authorization);
    if (!token) {
      throw new ApiError('invalid_api_key', 'Missing API key: send it as "Authorization: Bearer sk-…"');
    }
    const accountId = await this.accounts.accountIdForKey(token);
    if (!accountId) throw new ApiError('invalid_api_key', 'Incorrect API key provided');
    req.accountId = accountId;
    return true;
  }
}
