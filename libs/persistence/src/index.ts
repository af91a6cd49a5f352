export * from './data-source-options';
export * from './persistence.module';
export { MIGRATIONS } from './migrations';
export { bigintAsNumber } from './column-transformers';
export * from './bulk-sql';
export { managerOf, UnitOfWork, type Transaction } from './transaction';
