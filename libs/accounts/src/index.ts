export * from './accounts.module';
export * from './accounts.service';
export { AdminTokenService } from './admin-token.service';
export { AccountId } from './account-id.decorator';
export { PublicRoute, bearerToken } from './api-key.guard';
