export * from './execution.module';
export { RequestRowsService } from './request-rows.service';
export { SweeperService } from './sweeper.service';
export { REQUEST_ERROR_CODES } from './upstream/upstream-client';
export { parseRetryAfter } from './upstream/openai.upstream';
