export * from './files.module';
export * from './files.service';
export * from './file.types';
export type { LineIndexEntry } from './validation/jsonl-scanner';
