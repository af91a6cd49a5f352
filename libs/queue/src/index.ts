export * from './queue.constants';
export * from './job-queue';
export * from './queue.module';
