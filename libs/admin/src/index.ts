export * from './admin.module';
export { ConsoleModule } from './console/console.module';
export { ADMIN_QUERY_LIMITS } from './query-limits';
