export * from './batches.module';
export * from './batches.service';
export * from './batch.types';
export { toBatchObject, toBatchView } from './batch.mapper';
export { BatchStateMachine, TERMINAL_STATUSES, TRANSITIONS } from './batch-state-machine';
export type { Transition, TransitionHook } from './batch-state-machine';
export { BATCH_STATUSES } from './entities/batch.entity';
export type { BatchStatus, BatchErrorEntry } from './entities/batch.entity';
export { BatchJobs } from './batch-jobs';
