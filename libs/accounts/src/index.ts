export * from './accounts.module';
export * from './accounts.service';
export { AccountQuotasService, tokenLimitFor, type AccountQuotas, type QuotasChange, type ModelTokenLimit } from './account-quotas.service';
export { AccountUsage, type AccountSpend, type UsageIncrement } from './account-usage.service';
export { AdminTokenService } from './admin-token.service';
export { AccountId } from './account-id.decorator';
export { PublicRoute, bearerToken } from './api-key.guard';
