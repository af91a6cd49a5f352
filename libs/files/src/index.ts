export * from './files.module';
export * from './files.service';
export { FileSweeper } from './file-sweeper.service';
export { BatchInputWriter } from './batch-input-writer';
export * from './retention';
export * from './file.types';
export { MAX_KEPT_MODELS, type LineIndexEntry } from './validation/jsonl-scanner';
export { parseRequestLine } from './validation/request-line';
