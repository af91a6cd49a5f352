export * from './data-source-options';
export * from './persistence.module';
export { MIGRATIONS } from './migrations';
export { bigintAsNumber } from './column-transformers';
export * from './bulk-sql';
