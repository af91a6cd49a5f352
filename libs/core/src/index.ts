export * from './config/app-config';
export * from './errors/api-error';
export * from './errors/error-codes';
export * from './envelope/envelope';
export * from './util/clock';
export * from './util/ids';
export * from './util/list';
export * from './core.module';
