export * from './admin.module';
export { ADMIN_QUERY_LIMITS } from './query-limits';
