export * from './admin.module';
export { ADMIN_SCHEMA_FILE, buildAdminSchema, printAdminSchema } from './admin-schema';
export { ConsoleModule } from './console/console.module';
export { ADMIN_QUERY_LIMITS } from './query-limits';
