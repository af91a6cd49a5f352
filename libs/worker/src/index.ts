export { createWorker } from './create-worker';
export { WorkerModule } from './worker.module';
