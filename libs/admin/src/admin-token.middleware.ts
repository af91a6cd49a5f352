import { AdminTokenService, bearerToken } from '@app/accounts';
import { Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';

/**
 * Every request to /graphql needs `Authorization: Bearer $ADMIN_TOKEN`, checked before Apollo runs,
 * so nothing (not even introspection) answers without it. A client API key is not an admin token.
 */
@Injectable()
export class AdminTokenMiddleware implements NestMiddleware {
  constructor(private readonly adminToken: AdminTokenService) {}

  async use(req: Request, res: Response, next: NextFunction): Promise<void> {
    const token = bearerToken(req.headers.authorization);
    if (token && (await this.adminToken.verify(token))) return next();
    res.status(401).json({
      errors: [{ message: 'The admin API needs "Authorization: Bearer <ADMIN_TOKEN>"', extensions: { code: 'invalid_admin_token', status: 401 } }],
    });
  }
}
